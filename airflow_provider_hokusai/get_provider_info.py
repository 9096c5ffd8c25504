"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_hokusai import __version__
from airflow_provider_hokusai.queue.connection_types import queue_connection_types
from airflow_provider_hokusai.registry.connection import provider_connection_type

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """
    The provider's metadata: every hook, operator, sensor and trigger module, notifier, extra link, plugin and
    ``[hokusai]`` option (``tests/unit/test_get_provider_info.py`` walks the package to prove nothing is missing).

    :return: A mapping valid against Airflow's ``provider_info.schema.json``.
    """
    return {
        # Must equal the distribution name, or every `airflow` command fails to load providers.
        "package-name": "airflow-provider-hokusai",
        "name": "Hokusai",
        "description": "Hokusai ML platform: MLflow baseline gates, model registration, and exactly-once model-ready "
        "announcements over Redis and SQS.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Hokusai",
                "external-doc-url": "https://hokusai.ai",
                "tags": ["ml"],
            },
        ],
        "hooks": [
            {
                "integration-name": "Hokusai",
                "python-modules": [
                    "airflow_provider_hokusai.hooks.mlflow",
                    "airflow_provider_hokusai.hooks.mlflow_stores",
                    "airflow_provider_hokusai.hooks.mlflow_webhooks",
                ],
            },
            {
                # Queue hooks read the official redis and aws connection types, and the provider's hokusai_redis and
                # hokusai_sqs (the same connections, whose UI Test button runs the queue hooks' own test).
                "integration-name": "Hokusai",
                "python-modules": [
                    "airflow_provider_hokusai.hooks.queue",
                    "airflow_provider_hokusai.hooks.base_queue",
                    "airflow_provider_hokusai.hooks.redis",
                    "airflow_provider_hokusai.hooks.sqs",
                ],
            },
        ],
        # mlflow: declared once, with the hook's own get_ui_field_behaviour, in mlflow_connection; the queue types in
        # queue_connection.
        "connection-types": [provider_connection_type(), *queue_connection_types()],
        "operators": [
            {
                "integration-name": "Hokusai",
                "python-modules": [
                    "airflow_provider_hokusai.operators.mlflow",
                    "airflow_provider_hokusai.operators.model_ready",
                ],
            },
        ],
        "sensors": [
            {"integration-name": "Hokusai", "python-modules": ["airflow_provider_hokusai.sensors.mlflow"]},
        ],
        "triggers": [
            {"integration-name": "Hokusai", "python-modules": ["airflow_provider_hokusai.triggers.mlflow"]},
        ],
        "notifications": ["airflow_provider_hokusai.notifications.HokusaiFailureNotifier"],
        "extra-links": ["airflow_provider_hokusai.links.MLflowModelVersionLink"],
        "plugins": [
            {"name": "hokusai", "plugin-class": "airflow_provider_hokusai.plugins.plugin.HokusaiPlugin"},
        ],
        "config": {
            "hokusai": {
                "description": "The Hokusai provider's queue health endpoint (GET /hokusai/health) and page "
                "(GET /hokusai/ui/) on the API server.",
                "options": {
                    "health_queue_conn_ids": {
                        "description": "Comma-separated ids of the queue connections (redis or aws) that "
                        "/hokusai/health checks. Empty: nothing is checked and the endpoint answers 200.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "hokusai_queue,hokusai_sqs",
                        "default": "",
                    },
                    "health_timeout_seconds": {
                        "description": "Upper bound, in seconds (at most 60), on how long one health request waits "
                        "for the queue checks; a queue that has not answered by then is reported as timed out.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "1.5",
                        "default": "3",
                    },
                    "ui_mlflow_conn_id": {
                        "description": "The mlflow connection whose model registry the Hokusai page of the Airflow "
                        "UI (/hokusai/ui/) reads.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "mlflow_default",
                        "default": "mlflow_default",
                    },
                    "ui_reconcile_dag_id": {
                        "description": "The DAG the Hokusai page's 'Reconcile now' triggers; reading the page needs "
                        "read access to it.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "hokusai_reconcile_announcements",
                        "default": "hokusai_reconcile_announcements",
                    },
                    "ui_retry_dag_id": {
                        "description": "The DAG the Hokusai page's 'Retry announcement' triggers for one version, "
                        "with params model_name and model_version.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "hokusai_announce_only",
                        "default": "hokusai_announce_only",
                    },
                    "health_require_auth": {
                        "description": "Require an Airflow API token (Bearer header or the UI session cookie) to "
                        "read /hokusai/health. Off by default so that load-balancer probes work, like Airflow's "
                        "own /api/v2/monitor/health; the answer never contains credentials.",
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                },
            },
        },
    }

"""
Hokusai registry events: announce model versions registered anywhere, as MLflow tells Airflow about them.

MLflow's model-registry webhook posts each ``model_version.created`` (and each ``model_version_tag.set`` of
``hokusai_token_id`` / ``benchmark_metric`` / ``benchmark_value``) to the provider's receiver in the Airflow API
server, ``POST /hokusai/webhooks/mlflow``, which verifies the signature and records an asset event on
``hokusai_model_version_registered``. This DAG runs on those events: for each version it reads the tags, skips
versions that are not Hokusai candidates, validates the run's metric against ``benchmark_value`` (or the
``champion_alias`` version's metric) with the baseline gate's rules, writes the same evidence tags as
``RegisterModelOperator`` and announces through the one exactly-once path; a version that misses its baseline is
tagged ``hokusai_status=failed`` with the reason, and nothing is published. See docs/webhooks.md.

A manual run takes the versions from the ``versions`` param instead (``[{"model_name": ..., "version": ...}]``).
Connections: ``mlflow_default`` (type ``mlflow``) and ``hokusai_queue`` (type ``redis`` or ``aws``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task

from airflow_provider_hokusai.notifications import HokusaiFailureNotifier
from airflow_provider_hokusai.registry.events import MODEL_VERSION_ASSET

DAG_ID = "hokusai_registry_events"
MLFLOW_CONN_ID = "mlflow_default"
QUEUE_CONN_ID = "hokusai_queue"

with DAG(
    dag_id=DAG_ID,
    description="Validate and announce model versions registered anywhere, on MLflow webhook events.",
    schedule=[Asset(MODEL_VERSION_ASSET)],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "hokusai-ml",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=15),
        "on_failure_callback": HokusaiFailureNotifier(),
    },
    params={
        "queue_name": Param(None, type=["null", "string"], description="Queue/list name; connection default."),
        "champion_alias": Param(None, type=["null", "string"], description="Baseline from <model>@<alias>."),
        "versions": Param([], type="array", description="Manual runs: [{model_name, version}] to handle."),
    },
    tags=["hokusai", "mlops", "webhooks"],
    doc_md=__doc__,
) as dag:

    @task
    def announce_registered_versions(
        params: dict[str, Any] | None = None, triggering_asset_events: Any = None
    ) -> list[dict[str, Any]]:
        """Validate and announce each version named by the triggering events (or the ``versions`` param)."""
        from airflow_provider_hokusai.announcement.candidates import announce_versions, versions_from_events

        assert params is not None
        extras = [e.extra for batch in (triggering_asset_events or {}).values() for e in batch]
        return announce_versions(
            versions_from_events([*extras, *(params.get("versions") or [])]),
            mlflow_conn_id=MLFLOW_CONN_ID,
            queue_conn_id=QUEUE_CONN_ID,
            queue_name=params.get("queue_name"),
            champion_alias=params.get("champion_alias"),
        )

    announce_registered_versions()

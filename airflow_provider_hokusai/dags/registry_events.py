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
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, Param, task

from airflow_provider_hokusai.dags.common import (
    CHAMPION_ALIAS_PARAM,
    QUEUE_NAME_PARAM,
    TAGS,
    Connections,
    ProviderDag,
    announce_with_params,
)
from airflow_provider_hokusai.registry.events import MODEL_VERSION_ASSET

__all__ = ["DAG_ID", "registry_events_dag"]

DAG_ID = "hokusai_registry_events"


def _tasks(connections: Connections) -> None:
    @task
    def announce_registered_versions(
        params: dict[str, Any] | None = None, triggering_asset_events: Any = None
    ) -> list[dict[str, Any]]:
        """Validate and announce each version named by the triggering events (or the ``versions`` param)."""
        from airflow_provider_hokusai.announcement.candidates import versions_from_events

        assert params is not None
        extras = [e.extra for batch in (triggering_asset_events or {}).values() for e in batch]
        return announce_with_params(
            versions_from_events([*extras, *(params.get("versions") or [])]), params, connections
        )

    announce_registered_versions()


#: The registry-events DAG's factory: one task, ``announce_registered_versions``, on the webhook receiver's asset
#: events (the asset ``hokusai_model_version_registered``).
registry_events_dag = ProviderDag(
    dag_id=DAG_ID,
    doc=__doc__,
    description="Validate and announce model versions registered anywhere, on MLflow webhook events.",
    schedule=[Asset(MODEL_VERSION_ASSET)],
    tries=dict(retries=3, retry_delay=timedelta(seconds=30), execution_timeout=timedelta(minutes=15)),
    params={
        "queue_name": QUEUE_NAME_PARAM,
        "champion_alias": CHAMPION_ALIAS_PARAM,
        "versions": Param([], type="array", description="Manual runs: [{model_name, version}] to handle."),
    },
    tasks=_tasks,
    settings={"max_active_runs": 1, "tags": [*TAGS, "webhooks"]},
)

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
Connections: ``mlflow_default`` (type ``mlflow``) and ``hokusai_queue`` (type ``hokusai_redis``/``redis`` or
``hokusai_sqs``/``aws``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Asset, Param, task

from airflow_provider_hokusai.dags.common import MLFLOW_CONN_ID, QUEUE_CONN_ID, TAGS, provider_dag
from airflow_provider_hokusai.registry.events import MODEL_VERSION_ASSET

if TYPE_CHECKING:
    from airflow.sdk.definitions.dag import ScheduleArg

__all__ = ["DAG_ID", "registry_events_dag"]

DAG_ID = "hokusai_registry_events"


def registry_events_dag(
    *,
    dag_id: str = DAG_ID,
    schedule: ScheduleArg | None = None,
    mlflow_conn_id: str = MLFLOW_CONN_ID,
    queue_conn_id: str = QUEUE_CONN_ID,
) -> DAG:
    """
    The registry-events DAG: one task, ``announce_registered_versions``, on the webhook receiver's asset events.

    :param dag_id: Its id.
    :param schedule: The asset ``hokusai_model_version_registered`` the receiver records events on, when None.
    :param mlflow_conn_id: The ``mlflow`` connection.
    :param queue_conn_id: The queue connection.
    """
    with provider_dag(
        dag_id,
        __doc__,
        tries=dict(retries=3, retry_delay=timedelta(seconds=30), execution_timeout=timedelta(minutes=15)),
        description="Validate and announce model versions registered anywhere, on MLflow webhook events.",
        schedule=[Asset(MODEL_VERSION_ASSET)] if schedule is None else schedule,
        max_active_runs=1,
        params={
            "queue_name": Param(None, type=["null", "string"], description="Queue/list name; connection default."),
            "champion_alias": Param(None, type=["null", "string"], description="Baseline from <model>@<alias>."),
            "versions": Param([], type="array", description="Manual runs: [{model_name, version}] to handle."),
        },
        tags=[*TAGS, "webhooks"],
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
                mlflow_conn_id=mlflow_conn_id,
                queue_conn_id=queue_conn_id,
                queue_name=params.get("queue_name"),
                champion_alias=params.get("champion_alias"),
            )

        announce_registered_versions()
    return dag

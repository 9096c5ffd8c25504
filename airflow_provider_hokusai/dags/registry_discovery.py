"""
Hokusai registry discovery: the fallback for registries without webhooks (file stores, older MLflow servers, a
delivery lost on the way).

Every 10 minutes, pages through the MLflow registry for versions that carry a ``hokusai_token_id`` and no
``hokusai_status`` yet, and sends each through the same validation and exactly-once announcement as
``hokusai_registry_events``. A lost webhook therefore delays an announcement by one discovery period at most; it
never loses it. Safe alongside the webhook path: versions validated or announced are not touched again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, task

from airflow_provider_hokusai.dags.common import MLFLOW_CONN_ID, QUEUE_CONN_ID, provider_dag

if TYPE_CHECKING:
    from airflow.sdk.definitions.dag import ScheduleArg

__all__ = ["DAG_ID", "DISCOVERY_PERIOD", "registry_discovery_dag"]

DAG_ID = "hokusai_registry_discovery"
DISCOVERY_PERIOD = timedelta(minutes=10)


def registry_discovery_dag(
    *,
    dag_id: str = DAG_ID,
    schedule: ScheduleArg = DISCOVERY_PERIOD,
    mlflow_conn_id: str = MLFLOW_CONN_ID,
    queue_conn_id: str = QUEUE_CONN_ID,
) -> DAG:
    """
    The discovery DAG: one task, ``discover_and_announce``, with the params ``queue_name``, ``champion_alias`` and
    ``max_versions``.

    :param dag_id: Its id.
    :param schedule: Every 10 minutes.
    :param mlflow_conn_id: The ``mlflow`` connection.
    :param queue_conn_id: The queue connection.
    """
    with provider_dag(
        dag_id,
        __doc__,
        tries=dict(retries=2, retry_delay=timedelta(seconds=30), execution_timeout=timedelta(minutes=9)),
        description="Find candidate model versions without a Hokusai status and validate/announce them.",
        schedule=schedule,
        max_active_runs=1,
        params={
            "queue_name": Param(None, type=["null", "string"], description="Queue/list name; connection default."),
            "champion_alias": Param(None, type=["null", "string"], description="Baseline from <model>@<alias>."),
            "max_versions": Param(500, type="integer", minimum=1, description="Upper bound of versions per run."),
        },
    ) as dag:

        @task
        def discover_and_announce(params: dict[str, Any] | None = None) -> dict[str, Any]:
            """Find the versions owed a validation and handle each like a webhook event."""
            import logging

            from airflow_provider_hokusai.announcement.candidates import announce_versions, discover
            from airflow_provider_hokusai.hooks.mlflow import MLflowHook

            assert params is not None
            found, truncated = discover(MLflowHook(mlflow_conn_id), int(params["max_versions"]))
            if truncated:
                logging.getLogger(__name__).warning("Stopped at max_versions; the next run continues")
            outcomes = announce_versions(
                found,
                mlflow_conn_id=mlflow_conn_id,
                queue_conn_id=queue_conn_id,
                queue_name=params.get("queue_name"),
                champion_alias=params.get("champion_alias"),
            )
            return {"found": len(found), "truncated": truncated, "outcomes": outcomes}

        discover_and_announce()
    return dag

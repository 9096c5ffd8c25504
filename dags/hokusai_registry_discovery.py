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
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_hokusai.notifications import HokusaiFailureNotifier

DAG_ID = "hokusai_registry_discovery"
DISCOVERY_PERIOD = timedelta(minutes=10)
MLFLOW_CONN_ID = "mlflow_default"
QUEUE_CONN_ID = "hokusai_queue"

with DAG(
    dag_id=DAG_ID,
    description="Find candidate model versions without a Hokusai status and validate/announce them.",
    schedule=DISCOVERY_PERIOD,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "hokusai-ml",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(minutes=9),
        "on_failure_callback": HokusaiFailureNotifier(),
    },
    params={
        "queue_name": Param(None, type=["null", "string"], description="Queue/list name; connection default."),
        "champion_alias": Param(None, type=["null", "string"], description="Baseline from <model>@<alias>."),
        "max_versions": Param(500, type="integer", minimum=1, description="Upper bound of versions per run."),
    },
    tags=["hokusai", "mlops"],
    doc_md=__doc__,
) as dag:

    @task
    def discover_and_announce(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Find the versions owed a validation and handle each like a webhook event."""
        import logging

        from airflow_provider_hokusai.announcement.candidates import announce_versions, discover
        from airflow_provider_hokusai.hooks.mlflow import MLflowHook

        assert params is not None
        found, truncated = discover(MLflowHook(MLFLOW_CONN_ID), int(params["max_versions"]))
        if truncated:
            logging.getLogger(__name__).warning("Stopped at max_versions; the next run continues")
        outcomes = announce_versions(
            found,
            mlflow_conn_id=MLFLOW_CONN_ID,
            queue_conn_id=QUEUE_CONN_ID,
            queue_name=params.get("queue_name"),
            champion_alias=params.get("champion_alias"),
        )
        return {"found": len(found), "truncated": truncated, "outcomes": outcomes}

    discover_and_announce()

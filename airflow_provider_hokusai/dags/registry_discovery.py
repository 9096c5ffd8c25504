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

from airflow.sdk import task

from airflow_provider_hokusai.dags.common import (
    CHAMPION_ALIAS_PARAM,
    QUEUE_NAME_PARAM,
    Connections,
    ProviderDag,
    announce_with_params,
    max_versions_param,
)

__all__ = ["DAG_ID", "DISCOVERY_PERIOD", "registry_discovery_dag"]

DAG_ID = "hokusai_registry_discovery"
DISCOVERY_PERIOD = timedelta(minutes=10)


def _tasks(connections: Connections) -> None:
    @task
    def discover_and_announce(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Find the versions owed a validation and handle each like a webhook event."""
        import logging

        from airflow_provider_hokusai.announcement.candidates import discover
        from airflow_provider_hokusai.hooks.mlflow import MLflowHook

        assert params is not None
        found, truncated = discover(MLflowHook(connections.mlflow_conn_id), int(params["max_versions"]))
        if truncated:
            logging.getLogger(__name__).warning("Stopped at max_versions; the next run continues")
        outcomes = announce_with_params(found, params, connections)
        return {"found": len(found), "truncated": truncated, "outcomes": outcomes}

    discover_and_announce()


#: The discovery DAG's factory: one task, ``discover_and_announce``, with the params ``queue_name``,
#: ``champion_alias`` and ``max_versions``; every 10 minutes.
registry_discovery_dag = ProviderDag(
    dag_id=DAG_ID,
    doc=__doc__,
    description="Find candidate model versions without a Hokusai status and validate/announce them.",
    schedule=DISCOVERY_PERIOD,
    tries=dict(retries=2, retry_delay=timedelta(seconds=30), execution_timeout=timedelta(minutes=9)),
    params={
        "queue_name": QUEUE_NAME_PARAM,
        "champion_alias": CHAMPION_ALIAS_PARAM,
        "max_versions": max_versions_param(500),
    },
    tasks=_tasks,
    settings={"max_active_runs": 1},
)

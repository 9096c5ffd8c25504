"""
Hokusai announcement reconciliation: heal what a release could not announce.

Every hour, finds the MLflow model versions marked validated that carry no announcement receipt (never announced,
or whose announcement failed after registration) and announces each through the same path as a release. Safe to run
at any time, any number of times: versions with a receipt are skipped and the queue hooks deduplicate on the
deterministic message id. The Hokusai page's "Reconcile now" triggers it (``[hokusai] ui_reconcile_dag_id``); trigger
it by hand after fixing a broker outage to replay at once.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param

from airflow_provider_hokusai.dags.common import QUEUE_NAME_PARAM, Connections, ProviderDag, max_versions_param
from airflow_provider_hokusai.operators.model_ready import ReconcileAnnouncementsOperator

__all__ = ["DAG_ID", "reconcile_announcements_dag"]

DAG_ID = "hokusai_reconcile_announcements"


def _tasks(connections: Connections) -> None:
    ReconcileAnnouncementsOperator(
        task_id="reconcile",
        queue_conn_id=connections.queue_conn_id,
        queue_name="{{ params.queue_name }}",
        registered_model_name="{{ params.registered_model_name }}",
        max_versions="{{ params.max_versions }}",
        mlflow_conn_id=connections.mlflow_conn_id,
    )


#: The reconciliation DAG's factory: one task, ``reconcile``, with the params ``queue_name``,
#: ``registered_model_name`` and ``max_versions``; hourly. Its id is the page's default
#: ``[hokusai] ui_reconcile_dag_id``.
reconcile_announcements_dag = ProviderDag(
    dag_id=DAG_ID,
    doc=__doc__,
    description="Announce validated model versions that have no model_ready_to_deploy receipt.",
    schedule="@hourly",
    tries=dict(retries=3, retry_delay=timedelta(seconds=30), execution_timeout=timedelta(minutes=30)),
    params={
        "queue_name": QUEUE_NAME_PARAM,
        "registered_model_name": Param(None, type=["null", "string"], description="Only this model; all if null."),
        "max_versions": max_versions_param(1000),
    },
    tasks=_tasks,
    settings={"max_active_runs": 1, "render_template_as_native_obj": True},
)

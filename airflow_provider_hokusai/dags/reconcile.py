"""
Hokusai announcement reconciliation: heal what a release could not announce.

Every hour, finds the MLflow model versions marked validated that carry no announcement receipt (never announced,
or whose announcement failed after registration) and announces each through the same path as a release. Safe to run
at any time, any number of times: versions with a receipt are skipped and the queue hooks deduplicate on the
deterministic message id. The Hokusai page's "Reconcile now" triggers it (``[hokusai] ui_reconcile_dag_id``); trigger
it by hand after fixing a broker outage to replay at once.

Connections: ``mlflow_default`` (type ``mlflow``) and ``hokusai_queue`` (type ``hokusai_redis``/``redis`` or
``hokusai_sqs``/``aws``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import DAG, Param

from airflow_provider_hokusai.dags.common import MLFLOW_CONN_ID, QUEUE_CONN_ID, provider_dag
from airflow_provider_hokusai.operators.model_ready import ReconcileAnnouncementsOperator

if TYPE_CHECKING:
    from airflow.sdk.definitions.dag import ScheduleArg

__all__ = ["DAG_ID", "reconcile_announcements_dag"]

DAG_ID = "hokusai_reconcile_announcements"


def reconcile_announcements_dag(
    *,
    dag_id: str = DAG_ID,
    schedule: ScheduleArg = "@hourly",
    mlflow_conn_id: str = MLFLOW_CONN_ID,
    queue_conn_id: str = QUEUE_CONN_ID,
) -> DAG:
    """
    The reconciliation DAG: one task, ``reconcile``, with the params ``queue_name``, ``registered_model_name`` and
    ``max_versions``.

    :param dag_id: Its id (the page's default ``[hokusai] ui_reconcile_dag_id`` is the default here).
    :param schedule: Hourly; None for runs only when triggered.
    :param mlflow_conn_id: The ``mlflow`` connection.
    :param queue_conn_id: The queue connection.
    """
    with provider_dag(
        dag_id,
        __doc__,
        tries=dict(retries=3, retry_delay=timedelta(seconds=30), execution_timeout=timedelta(minutes=30)),
        description="Announce validated model versions that have no model_ready_to_deploy receipt.",
        schedule=schedule,
        max_active_runs=1,
        render_template_as_native_obj=True,
        params={
            "queue_name": Param(None, type=["null", "string"], description="Queue/list name; connection default."),
            "registered_model_name": Param(None, type=["null", "string"], description="Only this model; all if null."),
            "max_versions": Param(1000, type="integer", minimum=1, description="Upper bound of versions per run."),
        },
    ) as dag:
        ReconcileAnnouncementsOperator(
            task_id="reconcile",
            queue_conn_id=queue_conn_id,
            queue_name="{{ params.queue_name }}",
            registered_model_name="{{ params.registered_model_name }}",
            max_versions="{{ params.max_versions }}",
            mlflow_conn_id=mlflow_conn_id,
        )
    return dag

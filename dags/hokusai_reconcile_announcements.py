"""
Hokusai announcement reconciliation: heal what the release pipeline could not announce.

Every hour, finds the MLflow model versions marked validated that carry no announcement receipt (never announced,
or whose announcement failed after registration) and announces each through the same path as the release pipeline.
Safe to run at any time, any number of times: versions with a receipt are skipped and the queue hooks deduplicate
on the deterministic message id. Trigger it by hand after fixing a broker outage to replay at once.

Connections: ``mlflow_default`` (type ``mlflow``) and ``hokusai_queue`` (type ``redis`` or ``aws``), as in
``hokusai_model_release``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_hokusai.notifications import HokusaiFailureNotifier
from airflow_provider_hokusai.operators.model_ready import ReconcileAnnouncementsOperator

DAG_ID = "hokusai_reconcile_announcements"
MLFLOW_CONN_ID = "mlflow_default"
QUEUE_CONN_ID = "hokusai_queue"

with DAG(
    dag_id=DAG_ID,
    description="Announce validated model versions that have no model_ready_to_deploy receipt.",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args={
        "owner": "hokusai-ml",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": HokusaiFailureNotifier(),
    },
    params={
        "queue_name": Param(None, type=["null", "string"], description="Queue/list name; connection default."),
        "registered_model_name": Param(None, type=["null", "string"], description="Only this model; all if null."),
        "max_versions": Param(1000, type="integer", minimum=1, description="Upper bound of versions per run."),
    },
    tags=["hokusai", "mlops"],
    doc_md=__doc__,
) as dag:
    ReconcileAnnouncementsOperator(
        task_id="reconcile",
        queue_conn_id=QUEUE_CONN_ID,
        queue_name="{{ params.queue_name }}",
        registered_model_name="{{ params.registered_model_name }}",
        max_versions="{{ params.max_versions }}",
        mlflow_conn_id=MLFLOW_CONN_ID,
    )

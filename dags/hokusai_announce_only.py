"""
Hokusai announce-only: announce one registered, validated model version, exactly once.

The last step of ``hokusai_model_release`` on its own, for a version registered elsewhere (another pipeline, a
manual registration, a replay). Trigger it with the version as params; triggering it again, or many times at once
on several workers, announces the version once: the message id is derived from (model, version), the queue hook
deduplicates on it, and the receipt written back to MLflow makes later runs report ``already_published``.

Connections: ``mlflow_default`` (type ``mlflow``) and ``hokusai_queue`` (type ``redis`` or ``aws``), as in
``hokusai_model_release``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_hokusai.notifications import HokusaiFailureNotifier
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator

DAG_ID = "hokusai_announce_only"
MLFLOW_CONN_ID = "mlflow_default"
QUEUE_CONN_ID = "hokusai_queue"

with DAG(
    dag_id=DAG_ID,
    description="Announce one registered, validated model version as model_ready_to_deploy, exactly once.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=32,
    default_args={
        "owner": "hokusai-ml",
        "retries": 3,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(minutes=5),
        "on_failure_callback": HokusaiFailureNotifier(),
    },
    params={
        "model_name": Param("hokusai-model", type="string", minLength=1, description="Registered model name."),
        "model_version": Param("1", type="string", minLength=1, description="Registered model version."),
    },
    tags=["hokusai", "mlops"],
    doc_md=__doc__,
) as dag:
    PublishModelReadyOperator(
        task_id="announce",
        model_name="{{ params.model_name }}",
        model_version="{{ params.model_version }}",
        queue_conn_id=QUEUE_CONN_ID,
        mlflow_conn_id=MLFLOW_CONN_ID,
    )

"""
Hokusai announce-only: announce one registered, validated model version, exactly once.

The last step of a release on its own, for a version registered elsewhere (another pipeline, a manual registration, a
replay), and what the Hokusai page's "Retry announcement" triggers (``[hokusai] ui_retry_dag_id``). Trigger it with
the version as params; triggering it again, or many times at once on several workers, announces the version once:
the message id is derived from (model, version), the queue hook deduplicates on it, and the receipt written back to
MLflow makes later runs report ``already_published``.

Connections: ``mlflow_default`` (type ``mlflow``) and ``hokusai_queue`` (type ``hokusai_redis``/``redis`` or
``hokusai_sqs``/``aws``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import DAG, Param

from airflow_provider_hokusai.dags.common import MLFLOW_CONN_ID, QUEUE_CONN_ID, provider_dag
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator

if TYPE_CHECKING:
    from airflow.sdk.definitions.dag import ScheduleArg

__all__ = ["DAG_ID", "announce_only_dag"]

DAG_ID = "hokusai_announce_only"


def announce_only_dag(
    *,
    dag_id: str = DAG_ID,
    schedule: ScheduleArg = None,
    mlflow_conn_id: str = MLFLOW_CONN_ID,
    queue_conn_id: str = QUEUE_CONN_ID,
) -> DAG:
    """
    The announce-only DAG: one task, ``announce``, for the version in the params ``model_name`` / ``model_version``.

    :param dag_id: Its id (the page's default ``[hokusai] ui_retry_dag_id`` is the default here).
    :param schedule: None: it runs when triggered.
    :param mlflow_conn_id: The ``mlflow`` connection.
    :param queue_conn_id: The queue connection.
    """
    with provider_dag(
        dag_id,
        __doc__,
        tries=dict(
            retries=3,
            retry_delay=timedelta(seconds=10),
            max_retry_delay=timedelta(minutes=5),
            execution_timeout=timedelta(minutes=5),
        ),
        description="Announce one registered, validated model version as model_ready_to_deploy, exactly once.",
        schedule=schedule,
        max_active_runs=32,
        params={
            "model_name": Param("hokusai-model", type="string", minLength=1, description="Registered model name."),
            "model_version": Param("1", type="string", minLength=1, description="Registered model version."),
        },
    ) as dag:
        PublishModelReadyOperator(
            task_id="announce",
            model_name="{{ params.model_name }}",
            model_version="{{ params.model_version }}",
            queue_conn_id=queue_conn_id,
            mlflow_conn_id=mlflow_conn_id,
        )
    return dag

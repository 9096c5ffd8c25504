"""
Hokusai announce-only: announce one registered, validated model version, exactly once.

The last step of a release on its own, for a version registered elsewhere (another pipeline, a manual registration, a
replay), and what the Hokusai page's "Retry announcement" triggers (``[hokusai] ui_retry_dag_id``). Trigger it with
the version as params; triggering it again, or many times at once on several workers, announces the version once:
the message id is derived from (model, version), the queue hook deduplicates on it, and the receipt written back to
MLflow makes later runs report ``already_published``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param

from airflow_provider_hokusai.dags.common import Connections, ProviderDag
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator

__all__ = ["DAG_ID", "announce_only_dag"]

DAG_ID = "hokusai_announce_only"


def _tasks(connections: Connections) -> None:
    PublishModelReadyOperator(
        task_id="announce",
        model_name="{{ params.model_name }}",
        model_version="{{ params.model_version }}",
        queue_conn_id=connections.queue_conn_id,
        mlflow_conn_id=connections.mlflow_conn_id,
    )


#: The announce-only DAG's factory: one task, ``announce``, for the version in the params ``model_name`` /
#: ``model_version``; runs when triggered. Its id is the page's default ``[hokusai] ui_retry_dag_id``.
announce_only_dag = ProviderDag(
    dag_id=DAG_ID,
    doc=__doc__,
    description="Announce one registered, validated model version as model_ready_to_deploy, exactly once.",
    schedule=None,
    tries=dict(
        retries=3,
        retry_delay=timedelta(seconds=10),
        max_retry_delay=timedelta(minutes=5),
        execution_timeout=timedelta(minutes=5),
    ),
    params={
        "model_name": Param("hokusai-model", type="string", minLength=1, description="Registered model name."),
        "model_version": Param("1", type="string", minLength=1, description="Registered model version."),
    },
    tasks=_tasks,
    settings={"max_active_runs": 32},
)

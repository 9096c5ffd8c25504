"""What the provider's DAGs share: their connections, start date and retry policy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_provider_hokusai.notifications import HokusaiFailureNotifier

__all__ = ["MLFLOW_CONN_ID", "QUEUE_CONN_ID", "START_DATE", "TAGS", "default_args", "provider_dag"]

#: The ``mlflow`` connection the DAGs read the registry through.
MLFLOW_CONN_ID = "mlflow_default"
#: The queue connection they announce on (type ``hokusai_redis``/``redis`` or ``hokusai_sqs``/``aws``).
QUEUE_CONN_ID = "hokusai_queue"
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
TAGS = ["hokusai", "mlops"]


def default_args(
    *,
    retries: int,
    retry_delay: timedelta,
    execution_timeout: timedelta,
    max_retry_delay: timedelta = timedelta(minutes=10),
) -> dict[str, Any]:
    """
    Every task's arguments: retries with exponential backoff, a timeout, and the Hokusai failure notifier.

    :param retries: How many times a failed task is retried.
    :param retry_delay: The first retry's delay; each next one doubles, up to ``max_retry_delay``.
    :param execution_timeout: The upper bound of one try.
    :param max_retry_delay: The longest delay between two tries.
    """
    return {
        "owner": "hokusai-ml",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": max_retry_delay,
        "execution_timeout": execution_timeout,
        "on_failure_callback": HokusaiFailureNotifier(),
    }


def provider_dag(dag_id: str, doc: str | None, *, tries: dict[str, Any], **settings: Any) -> DAG:
    """
    One of the provider's DAGs, with what they all share: start date, no catch-up, tags, the module's docstring as
    its documentation and :func:`default_args` for its tasks.

    :param dag_id: Its id.
    :param doc: Its documentation (the factory module's ``__doc__``).
    :param tries: :func:`default_args`' arguments: ``retries``, ``retry_delay``, ``execution_timeout``...
    :param settings: The rest of ``DAG``'s arguments (description, schedule, max_active_runs, params, tags...).
    """
    settings.setdefault("tags", TAGS)
    return DAG(
        dag_id=dag_id,
        start_date=START_DATE,
        catchup=False,
        default_args=default_args(**tries),
        doc_md=doc,
        **settings,
    )

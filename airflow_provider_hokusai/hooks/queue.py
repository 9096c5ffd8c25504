"""
The queue hook of a connection, whatever the broker: :func:`get_queue_hook` picks it from the connection's type, so
a DAG only names a ``queue_conn_id``:

* ``redis`` / ``rediss`` / ``hokusai_redis`` → :class:`~airflow_provider_hokusai.hooks.redis.RedisQueueHook` (a list);
* ``aws`` / ``hokusai_sqs`` → :class:`~airflow_provider_hokusai.hooks.sqs.SqsQueueHook` (standard or FIFO queue).

The backends (and redis-py or boto3) are imported on call, so a DAG file that only names a queue hook parses fast.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hokusai.exceptions import InvalidConfigurationError
from airflow_provider_hokusai.hooks.base_queue import ModelReadyQueueHook
from airflow_provider_hokusai.queue.receipts import PublishReceipt, QueueStatus
from airflow_provider_hokusai.queue.retry import RetryPolicy
from airflow_provider_hokusai.queue.settings import REDIS_CONN_TYPES, SQS_CONN_TYPES
from airflow_provider_hokusai.utils.connections import connection

__all__ = ["ModelReadyQueueHook", "PublishReceipt", "QueueStatus", "get_queue_hook"]


def get_queue_hook(
    queue_conn_id: str,
    *,
    queue_name: str | None = None,
    retry: RetryPolicy | None = None,
    dedup_ttl_seconds: int | None = None,
) -> ModelReadyQueueHook:
    """
    The queue hook for ``queue_conn_id``, chosen by the connection's type.

    :param queue_conn_id: A ``redis``/``rediss`` connection (Redis list) or an ``aws`` connection (SQS queue).
    :param queue_name: Redis list, or SQS queue name or URL; defaults to the connection extra ``queue``.
    :param retry: Bounded in-task retries of a publish.
    :param dedup_ttl_seconds: Dedup marker lifetime (Redis); overrides the connection.
    :raises InvalidConfigurationError: ``queue_conn_id`` is empty, names no defined connection, or one whose type
        has no queue hook.
    """
    if not isinstance(queue_conn_id, str) or not queue_conn_id.strip():
        raise InvalidConfigurationError(
            [("queue_conn_id", "must be a non-empty connection id")], subject="queue configuration"
        )
    conn_type = (connection(queue_conn_id, "queue_conn_id", "queue configuration").conn_type or "").lower()
    options: dict[str, Any] = {"queue_name": queue_name, "retry": retry, "dedup_ttl_seconds": dedup_ttl_seconds}
    if conn_type in REDIS_CONN_TYPES:
        from airflow_provider_hokusai.hooks.redis import RedisQueueHook

        return RedisQueueHook(redis_conn_id=queue_conn_id, **options)
    if conn_type in SQS_CONN_TYPES:
        from airflow_provider_hokusai.hooks.sqs import SqsQueueHook

        return SqsQueueHook(aws_conn_id=queue_conn_id, **options)
    types = ", ".join(sorted(REDIS_CONN_TYPES | SQS_CONN_TYPES))
    rule = f"connection {queue_conn_id!r} has type {conn_type!r}; a queue connection must be of type {types}"
    raise InvalidConfigurationError([("queue_conn_id", rule)], subject="queue configuration")

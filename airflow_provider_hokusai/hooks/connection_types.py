"""
Hooks of the provider's queue connection types, ``hokusai_redis`` and ``hokusai_sqs``.

Airflow's Test button calls ``test_connection()`` of the hook registered for the connection's type. For ``redis``
that hook has none, and ``aws``'s asks STS who the caller is (real AWS, whatever ``endpoint_url`` says) and passes
for a queue that does not exist. A connection of one of these types is tested the way the provider uses it:
reachability, credentials, the queue itself (a Redis list, or an SQS queue and whether it is FIFO) and its depth, in
bounded time (:mod:`~airflow_provider_hokusai.queue.checks`). Their fields and extras are those of ``redis``
and ``aws`` (TLS for ``hokusai_redis`` through the extra ``ssl``), and
:func:`~airflow_provider_hokusai.hooks.queue.get_queue_hook` accepts both.
"""

from __future__ import annotations

from airflow_provider_hokusai.hooks.redis import RedisQueueHook
from airflow_provider_hokusai.hooks.sqs import SqsQueueHook
from airflow_provider_hokusai.queue.connection_types import (
    REDIS_CONN_TYPE,
    REDIS_HOOK_NAME,
    SQS_CONN_TYPE,
    SQS_HOOK_NAME,
)

__all__ = ["HokusaiRedisQueueHook", "HokusaiSqsQueueHook"]


class HokusaiRedisQueueHook(RedisQueueHook):
    """:class:`~airflow_provider_hokusai.hooks.redis.RedisQueueHook` for a ``hokusai_redis`` connection."""

    conn_type = REDIS_CONN_TYPE
    hook_name = REDIS_HOOK_NAME


class HokusaiSqsQueueHook(SqsQueueHook):
    """:class:`~airflow_provider_hokusai.hooks.sqs.SqsQueueHook` for a ``hokusai_sqs`` connection."""

    conn_type = SQS_CONN_TYPE
    hook_name = SQS_HOOK_NAME

"""
The provider's queue connection types, ``hokusai_redis`` and ``hokusai_sqs``, as ``get_provider_info`` declares them.

They are the official ``redis`` and ``aws`` connections, read the same way, whose UI **Test** button runs the queue
hooks' own test (:mod:`~airflow_provider_hokusai.hooks.connection_types`). Nothing is imported here: Airflow reads
provider info while it is itself being imported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REDIS_CONN_TYPE", "REDIS_HOOK_NAME", "SQS_CONN_TYPE", "SQS_HOOK_NAME", "queue_connection_types"]

REDIS_CONN_TYPE = "hokusai_redis"
SQS_CONN_TYPE = "hokusai_sqs"
REDIS_HOOK_NAME = "Hokusai queue (Redis)"
SQS_HOOK_NAME = "Hokusai queue (Amazon SQS)"


def _form(hidden: list[str], relabeling: dict[str, str], placeholders: dict[str, str]) -> dict[str, Any]:
    return {"hidden-fields": hidden, "relabeling": relabeling, "placeholders": placeholders}


def queue_connection_types() -> list[dict[str, Any]]:
    """The ``connection-types`` entries of ``get_provider_info`` for the two queue types."""
    return [
        {
            "hook-class-name": "airflow_provider_hokusai.hooks.redis.HokusaiRedisQueueHook",
            "hook-name": REDIS_HOOK_NAME,
            "connection-type": REDIS_CONN_TYPE,
            "ui-field-behaviour": _form(
                ["schema"],
                {"login": "ACL user (Redis 6+)"},
                {
                    "host": "redis.internal",
                    "port": "6379",
                    "extra": '{"queue": "hokusai:model_ready_queue", "db": 0, "ssl": false}',
                },
            ),
        },
        {
            "hook-class-name": "airflow_provider_hokusai.hooks.sqs.HokusaiSqsQueueHook",
            "hook-name": SQS_HOOK_NAME,
            "connection-type": SQS_CONN_TYPE,
            "ui-field-behaviour": _form(
                ["host", "port", "schema"],
                {"login": "AWS Access Key ID", "password": "AWS Secret Access Key"},
                {
                    "login": "empty: the default AWS credentials chain",
                    "extra": '{"region_name": "us-east-1", "queue": "hokusai-model-ready.fifo"}',
                },
            ),
        },
    ]

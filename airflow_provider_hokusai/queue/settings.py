"""How a queue connection is read: the queue hooks' arguments and connection extras as pydantic models.

Pure values, no I/O: :mod:`airflow_provider_hokusai.hooks.queue` and its backends read a connection into these once,
and every rule a value breaks is reported by :func:`~airflow_provider_hokusai.utils.validation.validate` with its field
(``extra.<key>`` for an extra).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, field_validator

from airflow_provider_hokusai.exceptions import InvalidConfigurationError
from airflow_provider_hokusai.queue.retry import RetryPolicy
from airflow_provider_hokusai.utils.validation import validate

__all__ = [
    "DEFAULT_DEAD_LETTER_QUEUE",
    "DEFAULT_PROCESSING_QUEUE",
    "DEFAULT_QUEUE",
    "REDIS_CONN_TYPES",
    "SQS_CONN_TYPES",
    "QueueExtra",
    "QueueHookArgs",
    "RedisQueueExtra",
    "RedisQueueSettings",
]

#: How long a dedup marker lives unless the connection (``dedup_ttl_seconds``) or the hook says otherwise.
_DEFAULT_DEDUP_TTL_SECONDS = 7 * 24 * 3600
#: SQS's limit on a message (body plus attributes); also the Redis hook's default, so both refuse the same messages.
_DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024

# hokusai_redis / hokusai_sqs: the provider's types of the same connections, whose UI Test runs the queue test.
REDIS_CONN_TYPES = frozenset({"redis", "rediss", "hokusai_redis"})
SQS_CONN_TYPES = frozenset({"aws", "hokusai_sqs"})

_PositiveInt = Annotated[int, Field(gt=0)]
_PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_NonEmptyStr = Annotated[str, Field(min_length=1)]


class QueueHookArgs(BaseModel):
    """The hook's own arguments; strict, since they come from Python code, not from text."""

    model_config = ConfigDict(frozen=True, strict=True)

    queue_name: str | None = None
    retry: InstanceOf[RetryPolicy] | None = None
    dedup_ttl_seconds: _PositiveInt | None = None
    max_message_bytes: _PositiveInt | None = None


class QueueExtra(BaseModel):
    """Connection extras both backends read; numbers may be written as strings."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    queue: _NonEmptyStr | None = None
    dedup_ttl_seconds: _PositiveInt = _DEFAULT_DEDUP_TTL_SECONDS
    max_message_bytes: _PositiveInt = _DEFAULT_MAX_MESSAGE_BYTES


DEFAULT_QUEUE = "hokusai:model_ready_queue"
DEFAULT_PROCESSING_QUEUE = "hokusai:processing_queue"
DEFAULT_DEAD_LETTER_QUEUE = "hokusai:dlq"
# Same names as the official RedisHook reads from the extra.
_SSL_EXTRA_KEYS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname")


class RedisQueueExtra(QueueExtra):
    """
    The ``redis`` connection's extras: ``db``; ``queue`` and the consumer's ``processing_queue`` and
    ``dead_letter_queue`` (for the status); the shared pool's size and timeouts (seconds);
    ``health_check_interval``, seconds an idle pooled connection waits before a PING checks it (0 = never);
    ``ssl`` with the official hook's ``ssl_*`` keys; ``dedup_ttl_seconds`` and ``max_message_bytes``.
    """

    db: int = Field(0, ge=0)
    cluster: bool = False
    ssl: bool = False
    processing_queue: _NonEmptyStr = DEFAULT_PROCESSING_QUEUE
    dead_letter_queue: _NonEmptyStr = DEFAULT_DEAD_LETTER_QUEUE
    max_connections: _PositiveInt = 16
    socket_timeout: _PositiveSeconds = 5.0
    socket_connect_timeout: _PositiveSeconds = 5.0
    health_check_interval: int = Field(30, ge=0)

    @field_validator("cluster")
    @classmethod
    def _single_endpoint(cls, cluster: bool) -> bool:
        if cluster:
            raise ValueError("Redis Cluster is not supported by the queue hook; use one endpoint")
        return cluster


class RedisQueueSettings(BaseModel):
    """Everything read from the connection, validated once; connection extras are reported as ``extra.<key>``."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int = Field(ge=1, le=65535)
    username: str | None
    password: str | None = Field(repr=False)
    tls: bool
    ssl_args: tuple[tuple[str, Any], ...]
    extra: RedisQueueExtra

    @classmethod
    def of(cls, conn: Any) -> RedisQueueSettings:
        """
        Read an Airflow ``redis`` connection.

        :raises InvalidConfigurationError: naming every field (``extra.<key>`` for extras) that breaks its rule.
        """
        extra = conn.extra_dejson if isinstance(conn.extra_dejson, Mapping) else {}
        values = {
            "host": conn.host or "127.0.0.1",
            "port": conn.port or 6379,
            "username": conn.login or None,
            # The official hook's convention: "none"/"false"/"" mean no password.
            "password": None if str(conn.password).lower() in ("none", "false", "") else conn.password,
            "tls": (conn.conn_type or "").lower() == "rediss" or str(extra.get("ssl")).lower() == "true",
            "ssl_args": tuple((k, extra[k]) for k in _SSL_EXTRA_KEYS if k in extra),
            "extra": dict(extra),
        }
        return validate(cls, values, InvalidConfigurationError, subject="queue configuration")

    def pool_key(self, retry: RetryPolicy) -> str:
        """What makes two hooks share a pool; the password only hashed, so the key never holds it."""
        secret = hashlib.sha256((self.password or "").encode()).hexdigest()
        return repr((self.host, self.port, self.username, secret, self.tls, self.ssl_args, self.extra, retry))

    def connection_kwargs(self) -> dict[str, Any]:
        """What redis-py needs to reach the server: address, database, credentials and, with TLS, the ``ssl_*`` keys."""
        reach = {"host": self.host, "port": self.port, "db": self.extra.db}
        return (
            reach | {"username": self.username, "password": self.password} | (dict(self.ssl_args) if self.tls else {})
        )

    @property
    def address(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/{self.extra.db}"

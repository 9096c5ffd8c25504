"""
One interface to publish ``model_ready_to_deploy`` messages, whatever the broker.

:class:`ModelReadyQueueHook` is what operators, the reconciliation command and the health endpoint code against;
:func:`get_queue_hook` picks the implementation from the Airflow connection's type, so a DAG only names a
``queue_conn_id``:

* ``redis`` / ``rediss`` → :class:`~airflow_provider_hokusai.hooks.redis.RedisQueueHook` (a list, LPUSH);
* ``aws`` → :class:`~airflow_provider_hokusai.hooks.sqs.SqsQueueHook` (standard or FIFO queue).

Both deduplicate on the message's deterministic id, bound their in-task retries with a
:class:`~airflow_provider_hokusai.retry.RetryPolicy`, raise
:class:`~airflow_provider_hokusai.exceptions.QueuePublishError` (retryable) when the broker stays unavailable and a
:class:`~airflow_provider_hokusai.exceptions.QueuePermanentError` subclass at once when retrying cannot help, and
emit the ``hokusai.queue.*`` metrics of :mod:`airflow_provider_hokusai.metrics`.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_hokusai.exceptions import (
    InvalidQueueConfiguration,
    InvalidQueueMessage,
    MessageTooLargeError,
    QueueConnectionTypeError,
)
from airflow_provider_hokusai.messages import MESSAGE_ID_TAG, MESSAGE_TYPE, MESSAGE_VERSION, ModelReadyToDeployMessage
from airflow_provider_hokusai.metrics import (
    QUEUE_DUPLICATE,
    QUEUE_FAILED,
    QUEUE_PUBLISH_DURATION,
    QUEUE_PUBLISHED,
    QUEUE_RETRIED,
    metric_tag_value,
)
from airflow_provider_hokusai.retry import DEFAULT_RETRY_POLICY, RetryPolicy

#: How long a dedup marker lives unless the connection (``dedup_ttl_seconds``) or the hook says otherwise.
DEFAULT_DEDUP_TTL_SECONDS = 7 * 24 * 3600
#: SQS's limit on a message (body plus attributes); also the Redis hook's default, so both refuse the same messages.
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024

REDIS_CONN_TYPES = frozenset({"redis", "rediss"})
SQS_CONN_TYPES = frozenset({"aws"})


# The formatted date and time of the current second, swapped as one tuple so that threads never see half of it.
_SECOND: list[tuple[int, str]] = [(-1, "")]


def utc_timestamp() -> str:
    """Now, as ISO 8601 UTC with microseconds and ``Z`` (the contract's timestamp format)."""
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _SECOND[0]
    if cached[0] != seconds:
        # Formatting is most of the cost of a timestamp; on the publish path it is done once a second.
        cached = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
        _SECOND[0] = cached
    return f"{cached[1]}.{micros:06d}Z"


@dataclass(frozen=True)
class PublishReceipt:
    """
    What the broker said about one publish; :meth:`to_dict` is JSON-serializable (XCom, MLflow tags).

    :param message_id: The message's deterministic id (the dedup key).
    :param backend: ``"redis"`` or ``"sqs"``.
    :param queue: Redis list name or SQS queue URL.
    :param broker_message_id: The broker's own id (SQS ``MessageId``); None for Redis, which has none.
    :param duplicate: True when the broker already had this message id and nothing new was enqueued.
    :param attempts: Tries it took, 1 when the first one succeeded.
    :param duration_ms: Wall time of the publish call, retries included.
    :param published_at: When the broker answered, ISO 8601 UTC ending in ``Z``.
    """

    message_id: str
    backend: str
    queue: str
    broker_message_id: str | None
    duplicate: bool
    attempts: int
    duration_ms: float
    published_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QueueStatus:
    """
    A snapshot of a queue; never raises, an unreachable broker reads ``reachable=False`` with an ``error``.

    :param latency_ms: Round trip of the status query.
    :param depth: Messages waiting (Redis list length; SQS ``ApproximateNumberOfMessages``).
    :param processing_depth: Messages taken but not acknowledged (the consumer's processing list; SQS in flight).
    :param dead_letter_depth: Messages in the dead-letter list/queue, when one exists.
    :param last_announcement_at: When a message was last enqueued (not a duplicate): Redis records it with each push;
        None for SQS, which keeps no such record.
    :param error: Why the broker is unreachable or a part of the status is missing; never holds credentials.
    """

    backend: str
    queue: str
    reachable: bool
    latency_ms: float | None = None
    depth: int | None = None
    processing_depth: int | None = None
    dead_letter_depth: int | None = None
    error: str | None = None
    last_announcement_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of an error, for status and error texts (the hooks never put credentials in them)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ModelReadyQueueHook(BaseHook, abc.ABC):
    """
    Publishes ``model_ready_to_deploy`` messages to one queue, exactly once per message id as far as the broker
    allows.

    Subclasses implement :meth:`_publish_body`, :meth:`_publish_bodies`, :meth:`queue_status` and
    :meth:`test_connection`; the validation, size check, timing, receipts and metrics live here so that both
    backends behave the same.

    :param retry: Bounded in-task retries of one publish; defaults to ``RetryPolicy()`` (3 attempts).
    :param dedup_ttl_seconds: Lifetime of the dedup marker; overrides the connection extra ``dedup_ttl_seconds``;
        default 7 days.
    :param max_message_bytes: Largest message accepted; overrides the connection extra ``max_message_bytes``;
        default 256 KiB (the SQS limit).
    """

    backend: str = ""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        dedup_ttl_seconds: int | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidQueueConfiguration([("retry", "must be a RetryPolicy")])
        _check_positive_int("dedup_ttl_seconds", dedup_ttl_seconds, allow_none=True)
        _check_positive_int("max_message_bytes", max_message_bytes, allow_none=True)
        self.retry_policy = retry or DEFAULT_RETRY_POLICY
        self._dedup_ttl_override = dedup_ttl_seconds
        self._max_bytes_override = max_message_bytes

    # Settings resolved from the connection (first use, never in __init__).

    @property
    @abc.abstractmethod
    def queue_name(self) -> str:
        """The Redis list or SQS queue (URL once resolved) this hook publishes to."""

    @abc.abstractmethod
    def _extra(self) -> Mapping[str, Any]:
        """The connection's extra (read once by the subclass and cached)."""

    @cached_property
    def dedup_ttl_seconds(self) -> int:
        """Dedup marker lifetime: hook argument, else connection extra ``dedup_ttl_seconds``, else 7 days."""
        if self._dedup_ttl_override is not None:
            return self._dedup_ttl_override
        return extra_int(self._extra(), "dedup_ttl_seconds", DEFAULT_DEDUP_TTL_SECONDS)

    @cached_property
    def max_message_bytes(self) -> int:
        """Size limit: hook argument, else connection extra ``max_message_bytes``, else 256 KiB."""
        if self._max_bytes_override is not None:
            return self._max_bytes_override
        return extra_int(self._extra(), "max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)

    # The public interface.

    def publish(self, message: ModelReadyToDeployMessage) -> PublishReceipt:
        """
        Publish one message; a message id already on the queue is not enqueued again (``duplicate=True``).

        :raises InvalidQueueMessage: not a ``ModelReadyToDeployMessage``, or one the broker cannot carry.
        :raises MessageTooLargeError: larger than :attr:`max_message_bytes`.
        :raises QueuePermanentError: missing queue, access denied: retrying cannot help.
        :raises QueuePublishError: the broker stayed unavailable through the retry policy; retrying later is safe.
        """
        body = self._serialize(message)
        return self._publish_body(message, body)

    def publish_many(self, messages: Sequence[ModelReadyToDeployMessage]) -> list[PublishReceipt]:
        """
        Publish several messages in as few round trips as the broker allows, with the same dedup guarantees.

        Every message is checked before anything is sent; receipts come back in the order of ``messages``.
        A message id repeated within ``messages`` is enqueued once, the later copies reading ``duplicate=True``.
        """
        if isinstance(messages, ModelReadyToDeployMessage | str | bytes) or not isinstance(messages, Sequence):
            raise InvalidQueueMessage([("messages", "must be a sequence of ModelReadyToDeployMessage")])
        bodies = [self._serialize(m, field=f"messages[{i}]") for i, m in enumerate(messages)]
        if not bodies:
            return []
        return self._publish_bodies(list(messages), bodies)

    @abc.abstractmethod
    def queue_status(self) -> QueueStatus:
        """Depths and reachability of the queue; never raises for an unreachable broker."""

    @abc.abstractmethod
    def test_connection(self) -> tuple[bool, str]:
        """Talk to the queue itself (not only to the broker's auth) and say whether publishing can work."""

    # For subclasses.

    @abc.abstractmethod
    def _publish_body(self, message: ModelReadyToDeployMessage, body: str) -> PublishReceipt: ...

    @abc.abstractmethod
    def _publish_bodies(
        self, messages: Sequence[ModelReadyToDeployMessage], bodies: Sequence[str]
    ) -> list[PublishReceipt]: ...

    def _serialize(self, message: object, field: str = "message") -> str:
        if not isinstance(message, ModelReadyToDeployMessage):
            raise InvalidQueueMessage(
                [(field, f"must be a rendered ModelReadyToDeployMessage, not {type(message).__name__}")]
            )
        body = message.to_json()
        size = self._message_size(message, body)
        limit = self.max_message_bytes
        if size > limit:
            raise MessageTooLargeError(
                [(field, f"is {size} bytes on the {self.backend} queue, above the limit of {limit} bytes")]
            )
        return body

    @staticmethod
    def _message_id(message: ModelReadyToDeployMessage) -> str:
        # The builder puts the id in the tags and the model refuses a tag that differs from the computed id, so
        # reading it back saves hashing on the hot path.
        tags = message.tags
        if tags:
            found = tags.get(MESSAGE_ID_TAG)
            if found:
                return found
        return message.message_id

    def _message_size(self, message: ModelReadyToDeployMessage, body: str) -> int:
        """Bytes the broker counts against its limit; the body alone unless the backend adds attributes."""
        # pydantic escapes nothing by default, so non-ASCII text is possible; ASCII is the common, cheap case.
        return len(body) if body.isascii() else len(body.encode())

    @staticmethod
    def _message_attributes(message: ModelReadyToDeployMessage) -> dict[str, str]:
        """Metadata a broker may carry beside the body (SQS message attributes)."""
        return {
            "message_id": ModelReadyQueueHook._message_id(message),
            "message_type": MESSAGE_TYPE,
            "message_version": MESSAGE_VERSION,
        }

    def _metric_tags(self) -> dict[str, str]:
        return {"backend": self.backend, "queue": metric_tag_value(self.queue_name)}

    @cached_property
    def _stats(self) -> Any:
        # Imported on first use (not at module import), then kept: the publish path should not pay an import.
        from airflow.sdk.observability.stats import Stats

        return Stats

    @cached_property
    def _publish_tags(self) -> dict[str, str]:
        return self._metric_tags()

    def _record(self, receipts: Sequence[PublishReceipt], duration_ms: float) -> None:
        stats, tags = self._stats, self._publish_tags
        duplicates = sum(1 for r in receipts if r.duplicate)
        if len(receipts) > duplicates:
            stats.incr(QUEUE_PUBLISHED, len(receipts) - duplicates, tags=tags)
        if duplicates:
            stats.incr(QUEUE_DUPLICATE, duplicates, tags=tags)
        stats.timing(QUEUE_PUBLISH_DURATION, duration_ms, tags=tags)

    def _record_failure(self, count: int, *, permanent: bool) -> None:
        tags = {**self._metric_tags(), "reason": "permanent" if permanent else "retryable"}
        self._stats.incr(QUEUE_FAILED, count, tags=tags)

    def _record_retry(self, error: BaseException, failures: int) -> None:
        self._stats.incr(QUEUE_RETRIED, tags=self._metric_tags())
        self.log.warning(
            "Publish to %s queue %s failed (try %s of %s): %s; retrying",
            self.backend,
            self.queue_name,
            failures,
            self.retry_policy.attempts,
            type(error).__name__,
        )


def _check_positive_int(field: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidQueueConfiguration([(field, "must be a positive integer")])


def extra_int(extra: Mapping[str, Any], key: str, default: int) -> int:
    """A positive integer from a connection extra (numbers written as strings are accepted)."""
    value = extra.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidQueueConfiguration([(f"extra.{key}", "must be a positive integer")])
    return value


def extra_float(extra: Mapping[str, Any], key: str, default: float | None) -> float | None:
    """A positive number of seconds from a connection extra."""
    value = extra.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise InvalidQueueConfiguration([(f"extra.{key}", "must be a positive number of seconds")])
    return number


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


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
    :raises QueueConnectionTypeError: the connection exists but its type has no queue hook.
    :raises InvalidQueueConfiguration: ``queue_conn_id`` is empty or names no defined connection.
    """
    if not isinstance(queue_conn_id, str) or not queue_conn_id.strip():
        raise InvalidQueueConfiguration([("queue_conn_id", "must be a non-empty connection id")])
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(queue_conn_id)
    except AirflowNotFoundException:
        # A typed, permanent error: an undefined connection does not appear by retrying the task.
        raise InvalidQueueConfiguration([("queue_conn_id", f"connection {queue_conn_id!r} is not defined")]) from None
    conn_type = (conn.conn_type or "").lower()
    if conn_type in REDIS_CONN_TYPES:
        from airflow_provider_hokusai.hooks.redis import RedisQueueHook

        return RedisQueueHook(
            redis_conn_id=queue_conn_id,
            queue_name=queue_name,
            retry=retry,
            dedup_ttl_seconds=dedup_ttl_seconds,
            connection=conn,
        )
    if conn_type in SQS_CONN_TYPES:
        from airflow_provider_hokusai.hooks.sqs import SqsQueueHook

        return SqsQueueHook(
            aws_conn_id=queue_conn_id,
            queue_name=queue_name,
            retry=retry,
            dedup_ttl_seconds=dedup_ttl_seconds,
        )
    raise QueueConnectionTypeError(
        f"connection {queue_conn_id!r} has type {conn.conn_type!r}; a queue connection must be of type "
        f"{', '.join(sorted(REDIS_CONN_TYPES | SQS_CONN_TYPES))}"
    )

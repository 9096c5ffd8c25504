"""
The base of the queue hooks: one publish path for both brokers.

:class:`ModelReadyQueueHook` is what operators, the reconciliation command and the health endpoint code against;
:func:`~airflow_provider_hokusai.hooks.queue.get_queue_hook` picks the implementation from the connection's type.
There is one publish path: :meth:`ModelReadyQueueHook.publish` is :meth:`~ModelReadyQueueHook.publish_many` of one
message, and a backend implements only :meth:`~ModelReadyQueueHook._send`. The checks, receipts and metrics live
here, so both backends behave the same. Retries happen once, inside the client (see
:mod:`~airflow_provider_hokusai.queue.retry`).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import BaseHook

from airflow_provider_hokusai.exceptions import (
    HokusaiError,
    HokusaiPermanentError,
    InvalidConfigurationError,
    InvalidQueueMessage,
    QueueBatchError,
)
from airflow_provider_hokusai.messages import (
    MESSAGE_TYPE,
    MESSAGE_VERSION,
    ModelReadyToDeployMessage,
    utc_now_timestamp,
)
from airflow_provider_hokusai.queue.receipts import PublishReceipt, QueueStatus, Sent, elapsed_ms
from airflow_provider_hokusai.queue.retry import RetryPolicy
from airflow_provider_hokusai.queue.settings import (
    QueueExtra,
    QueueHookArgs,
)
from airflow_provider_hokusai.utils.metrics import queue_tags, record_publish, record_publish_failure
from airflow_provider_hokusai.utils.validation import validate

if TYPE_CHECKING:
    from airflow_provider_hokusai.queue.signer import QueueSigner


__all__ = ["ModelReadyQueueHook", "message_attributes"]


class ModelReadyQueueHook(BaseHook, abc.ABC):
    """
    Publishes ``model_ready_to_deploy`` messages to one queue, exactly once per message id as the broker
    allows.

    :param queue_name: The Redis list or SQS queue (name or URL); overrides the connection extra ``queue``.
    :param retry: Bounded in-task retries of one publish, done by the client; defaults to ``RetryPolicy()``.
    :param dedup_ttl_seconds: Lifetime of the dedup marker; overrides the connection extra ``dedup_ttl_seconds``;
        default 7 days.
    :param max_message_bytes: Largest message accepted; overrides the connection extra ``max_message_bytes``;
        default 256 KiB (the SQS limit).
    """

    backend: ClassVar[str] = ""
    conn_name_attr: ClassVar[str] = ""

    def __init__(
        self,
        *,
        queue_name: str | None = None,
        retry: RetryPolicy | None = None,
        dedup_ttl_seconds: int | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self.args = validate(
            QueueHookArgs,
            {
                "queue_name": queue_name or None,
                "retry": retry,
                "dedup_ttl_seconds": dedup_ttl_seconds,
                "max_message_bytes": max_message_bytes,
            },
            InvalidConfigurationError,
        )
        self.retry_policy = self.args.retry or RetryPolicy()

    # Settings resolved from the connection on first use, never in __init__.

    @property
    @abc.abstractmethod
    def queue_name(self) -> str:
        """The Redis list or SQS queue (URL once resolved) this hook publishes to."""

    @property
    def destination(self) -> str:
        """Where the receipts say the messages went: the Redis list, or the SQS queue's URL."""
        return self.queue_name

    @property
    @abc.abstractmethod
    def extra(self) -> QueueExtra:
        """The connection's extras, validated."""

    @cached_property
    def signer(self) -> QueueSigner:
        """Signs what this hook publishes when its connection asks for it (extra ``signing_conn_ids``)."""
        from airflow_provider_hokusai.queue.signer import QueueSigner

        conn_id = getattr(self, self.conn_name_attr, None)
        return QueueSigner(conn_id if isinstance(conn_id, str) else None)

    @cached_property
    def dedup_ttl_seconds(self) -> int:
        """Dedup marker lifetime: hook argument, else connection extra ``dedup_ttl_seconds``, else 7 days."""
        return self.args.dedup_ttl_seconds or self.extra.dedup_ttl_seconds

    @cached_property
    def max_message_bytes(self) -> int:
        """Size limit: hook argument, else connection extra ``max_message_bytes``, else 256 KiB."""
        return self.args.max_message_bytes or self.extra.max_message_bytes

    # The public interface.

    def publish(self, message: ModelReadyToDeployMessage) -> PublishReceipt:
        """
        Publish one message; a message id already on the queue is not enqueued again (``duplicate=True``).

        :raises InvalidQueueMessage: not a ``ModelReadyToDeployMessage``, or one the broker cannot carry.
        :raises InvalidQueueMessage: larger than :attr:`max_message_bytes`.
        :raises QueuePermanentError: missing queue, access denied: retrying cannot help.
        :raises QueuePublishError: the broker stayed unavailable through the retry policy; retrying later is safe.
        """
        return self._publish([message], ["message"])[0]

    def publish_many(self, messages: Sequence[ModelReadyToDeployMessage]) -> list[PublishReceipt]:
        """
        Publish several messages in as few round trips as the broker allows, through the same path as :meth:`publish`.

        Every message is checked before anything is sent; receipts come back in the order of ``messages``.
        A message id repeated within ``messages`` is enqueued once, the later copies reading ``duplicate=True``.

        :raises QueueBatchError: some messages were taken and others not; it holds the receipts of the taken ones
            and the error of each other one, by position.
        """
        if isinstance(messages, ModelReadyToDeployMessage | str | bytes) or not isinstance(messages, Sequence):
            raise InvalidQueueMessage([("messages", "must be a sequence of ModelReadyToDeployMessage")])
        return self._publish(list(messages), [f"messages[{i}]" for i in range(len(messages))])

    @abc.abstractmethod
    def queue_status(self) -> QueueStatus:
        """Depths and reachability of the queue; never raises for an unreachable broker."""

    @abc.abstractmethod
    def test_connection(self) -> tuple[bool, str]:
        """Talk to the queue itself (not only to the broker's auth) and say whether publishing can work."""

    # For the backends.

    @abc.abstractmethod
    def _send(
        self, messages: Sequence[ModelReadyToDeployMessage], bodies: Sequence[str], now: str
    ) -> list[Sent | HokusaiError]:
        """
        Hand the serialized messages to the broker at ``now`` (a contract timestamp); the outcome of each, in order.

        Raises a typed :class:`HokusaiError` when the call as a whole failed (nothing is known to be taken).
        """

    def _attempts(self) -> int:
        """Tries the last :meth:`_send` took (the client's retries included)."""
        return 1

    def _message_size(self, message: ModelReadyToDeployMessage, body: str) -> int:
        """Bytes the broker counts against its limit; the body alone unless the backend adds attributes."""
        return len(body.encode())

    def _message_attributes(self, message: ModelReadyToDeployMessage) -> dict[str, str]:
        """Metadata a broker may carry beside the body (SQS message attributes)."""
        return message_attributes(message)

    def _serialize(self, message: object, field: str) -> str:
        if not isinstance(message, ModelReadyToDeployMessage):
            raise InvalidQueueMessage(
                [(field, f"must be a rendered ModelReadyToDeployMessage, not {type(message).__name__}")]
            )
        body = self.signer.signed(message).to_json()
        size, limit = self._message_size(message, body), self.max_message_bytes
        if size > limit:
            raise InvalidQueueMessage(
                [(field, f"is {size} bytes on the {self.backend} queue, above the limit of {limit} bytes")]
            )
        return body

    # The one publish path.

    def _publish(self, messages: list[Any], fields: list[str]) -> list[PublishReceipt]:
        bodies = [self._serialize(m, f) for m, f in zip(messages, fields, strict=True)]
        if not bodies:
            return []
        start, now = time.perf_counter(), utc_now_timestamp()
        try:
            outcomes = self._send(messages, bodies, now)
        except HokusaiError as exc:
            self._count_failed(len(bodies), exc)
            raise
        duration, attempts, queue, backend = elapsed_ms(start), self._attempts(), self.destination, self.backend
        results = [
            PublishReceipt(
                m.message_id,
                backend,
                queue,
                o.broker_message_id,
                o.duplicate,
                attempts,
                duration,
                o.published_at or now,
            )
            if isinstance(o, Sent)
            else o
            for m, o in zip(messages, outcomes, strict=True)
        ]
        receipts = [r for r in results if isinstance(r, PublishReceipt)]
        self._record(receipts, duration, attempts)
        if len(receipts) < len(results):
            self._refused(results)
        return receipts

    def _refused(self, results: list[PublishReceipt | HokusaiError]) -> NoReturn:
        """Count the messages the broker did not take and raise: their error alone, or the batch's."""
        errors = {i: r for i, r in enumerate(results) if isinstance(r, HokusaiError)}
        for error in errors.values():
            self._count_failed(1, error)
        if len(results) == 1:
            raise errors[0]
        raise QueueBatchError({i: r for i, r in enumerate(results) if isinstance(r, PublishReceipt)}, errors)

    # Metrics.

    @cached_property
    def _metric_tags(self) -> dict[str, str]:
        return queue_tags(self.backend, self.queue_name)

    def _record(self, receipts: Sequence[PublishReceipt], duration_ms: float, attempts: int) -> None:
        duplicates = sum(1 for r in receipts if r.duplicate)
        new = len(receipts) - duplicates
        record_publish(self._metric_tags, new=new, duplicates=duplicates, retries=attempts - 1, duration_ms=duration_ms)

    def _count_failed(self, count: int, error: HokusaiError) -> None:
        try:
            tags = self._metric_tags
        except HokusaiError:
            # The queue itself is misconfigured: the failure is still counted, without a queue tag.
            tags = queue_tags(self.backend, None)
        permanent = isinstance(error, HokusaiPermanentError)
        record_publish_failure(tags, count=count, permanent=permanent, retries=self._attempts() - 1)


def message_attributes(message: ModelReadyToDeployMessage) -> dict[str, str]:
    """The attributes every message carries beside its body where the broker has them: its id, type and version."""
    return {"message_id": message.message_id, "message_type": MESSAGE_TYPE, "message_version": MESSAGE_VERSION}

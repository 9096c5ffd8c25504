"""What a publish or a status check reports.

Pure values: the queue hooks produce them, the announcer records them in the registry
(:func:`airflow_provider_hokusai.registry.evidence.receipt_tags`), the health endpoint and the operators' XCom show
them. One shape each, wherever it travels.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

__all__ = ["PublishReceipt", "QueueStatus", "Sent", "elapsed_ms"]


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
    :param published_at: When the message was first published (this call, or the first copy's for a duplicate),
        ISO 8601 UTC ending in ``Z``.
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
    :param warning: Reachable, but something an operator must know: a Redis whose persistence cannot keep an
        acknowledged announcement across a restart (``appendonly no``, ``appendfsync no``), or whose persistence
        could not be read ("persistence unknown"). The health endpoint stays 200 and reports ``degraded``.
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
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Sent(NamedTuple):
    """What a backend's :meth:`ModelReadyQueueHook._send` learnt about one message the broker took."""

    broker_message_id: str | None = None
    duplicate: bool = False
    #: When the broker first took the message id (a duplicate's first time); None: this publish's time.
    published_at: str | None = None


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)

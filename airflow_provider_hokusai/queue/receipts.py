"""What a publish or a status check reports, and how a receipt is kept on the model version's tags.

Pure values: the queue hooks produce them, the announcer records them in the registry, the health endpoint and the
operators' XCom show them. One shape each, wherever it travels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from airflow_provider_hokusai.registry import tags as t

__all__ = [
    "RECEIPT_FIELDS",
    "PublishReceipt",
    "QueueStatus",
    "Sent",
    "elapsed_ms",
    "receipt_from_tags",
    "receipt_tags",
]


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


#: The receipt's fields, in the JSON of ``hokusai_announcement_receipt`` and in what :func:`receipt_from_tags` returns.
RECEIPT_FIELDS = ("message_id", "backend", "queue", "broker_message_id", "published_at")
# The same fields as separate tags, as earlier builds of the provider wrote them.
_LEGACY_TAGS = {
    "message_id": t.ANNOUNCEMENT_MESSAGE_ID,
    "backend": t.ANNOUNCEMENT_BACKEND,
    "queue": t.ANNOUNCEMENT_QUEUE,
    "broker_message_id": t.ANNOUNCEMENT_BROKER_ID,
    "published_at": t.ANNOUNCED_AT,
}


def receipt_tags(receipt: PublishReceipt, current_tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """
    The tags that record ``receipt`` on its model version, in the order they are written (one request each): the
    receipt as one JSON tag, the earlier failure's reason cleared when ``current_tags`` (the version as read before
    publishing) has one, and the status last, so the pending index only turns ``published`` once the receipt is in.
    """
    recorded = {key: getattr(receipt, key) for key in RECEIPT_FIELDS}
    written = {t.ANNOUNCEMENT_RECEIPT: json.dumps(recorded, separators=(",", ":"), sort_keys=True)}
    if (current_tags or {}).get(t.ANNOUNCEMENT_ERROR):
        written[t.ANNOUNCEMENT_ERROR] = ""
    return written | {t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_PUBLISHED}


def _json_receipt(text: str | None) -> dict[str, Any] | None:
    try:
        found = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(found, dict) or not (found.get("message_id") and found.get("published_at")):
        return None
    return {key: found.get(key) or None for key in RECEIPT_FIELDS}


def receipt_from_tags(version_tags: Mapping[str, str]) -> dict[str, Any] | None:
    """
    The receipt recorded on a version by an earlier successful announcement, if any: the JSON tag
    ``hokusai_announcement_receipt``, or the separate tags earlier builds wrote (complete once
    ``hokusai_announced_at`` and the message id are there).

    A receipt counts whatever the status tag reads since: a crash between the receipt and the status, or a failure
    recorded by a worker racing a successful one, must not make a published version look unannounced.
    """
    found = _json_receipt(version_tags.get(t.ANNOUNCEMENT_RECEIPT))
    if found is not None:
        return found
    if not (version_tags.get(t.ANNOUNCED_AT) and version_tags.get(t.ANNOUNCEMENT_MESSAGE_ID)):
        return None
    return {key: version_tags.get(tag) or None for key, tag in _LEGACY_TAGS.items()}

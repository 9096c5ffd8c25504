"""What a model version carries: its validation evidence, the pending mark and its announcement's receipt, as tags.

One definition of each set of tags, whoever validated or announced the version.

``RegisterModelOperator`` (a training DAG's registration) and
:mod:`airflow_provider_hokusai.announcement.candidates` (versions registered anywhere, reached through MLflow webhooks
or discovery) both write these tags, and
:class:`~airflow_provider_hokusai.announcement.announcer.ModelReadyAnnouncer` rebuilds the announcement from them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.exceptions import InvalidInputError
from airflow_provider_hokusai.gate.baseline import BaselineEvidence
from airflow_provider_hokusai.messages.model_ready import MAX_TAG_VALUE_LENGTH
from airflow_provider_hokusai.registry import tags

if TYPE_CHECKING:
    from airflow_provider_hokusai.queue.receipts import PublishReceipt

__all__ = ["RECEIPT_FIELDS", "evidence_tags", "receipt_from_tags", "receipt_tags", "with_pending_mark"]


def evidence_tags(
    evidence: BaselineEvidence, *, token_symbol: str, model_id: str, contributor_address: str | None = None
) -> dict[str, str]:
    """
    The model-version tags of :mod:`airflow_provider_hokusai.registry.tags` recording a passed gate; the publisher reads
    them back as they are.

    :param evidence: The gate's evidence, its direction and improvement resolved.
    :param token_symbol: The contract's token symbol, already checked against its pattern.
    :param model_id: Hokusai's stable model id.
    :raises InvalidInputError: naming every tag whose value MLflow would refuse as too long.
    """
    version_tags = {
        tags.TOKEN_ID: token_symbol,
        tags.BENCHMARK_METRIC: evidence.metric_name,
        tags.BENCHMARK_VALUE: repr(evidence.baseline_value),
        tags.CURRENT_VALUE: repr(evidence.current_value),
        tags.DIRECTION: str(evidence.direction),
        tags.IMPROVEMENT_PERCENTAGE: repr(evidence.improvement_percentage),
        tags.RUN_ID: evidence.run_id,
        tags.MODEL_ID: model_id,
        tags.STATUS: tags.STATUS_VALIDATED,
    }
    if evidence.experiment_name:
        version_tags[tags.EXPERIMENT_NAME] = evidence.experiment_name
    if contributor_address:
        version_tags[tags.CONTRIBUTOR_ADDRESS] = contributor_address
    too_long = [k for k, v in version_tags.items() if len(v) > MAX_TAG_VALUE_LENGTH]
    if too_long:
        raise InvalidInputError(
            [(k, f"must be at most {MAX_TAG_VALUE_LENGTH} characters") for k in too_long],
            subject="model registration input",
        )
    return version_tags


def with_pending_mark(version_tags: Mapping[str, str], current_tags: Mapping[str, str]) -> dict[str, str]:
    """
    ``version_tags`` plus the pending-index mark (``hokusai_announcement_status=pending``), last, unless the version
    already has an announcement status or a receipt: reconciliation only lists versions whose evidence is in.
    """
    marked = dict(version_tags)
    if not current_tags.get(tags.ANNOUNCEMENT_STATUS) and receipt_from_tags(current_tags) is None:
        marked[tags.ANNOUNCEMENT_STATUS] = tags.ANNOUNCEMENT_PENDING
    return marked


#: The receipt's fields, in the JSON of ``hokusai_announcement_receipt`` and in what :func:`receipt_from_tags` returns.
RECEIPT_FIELDS = ("message_id", "backend", "queue", "broker_message_id", "published_at")
# The same fields as separate tags, as earlier builds of the provider wrote them.
_LEGACY_TAGS = {
    "message_id": tags.ANNOUNCEMENT_MESSAGE_ID,
    "backend": tags.ANNOUNCEMENT_BACKEND,
    "queue": tags.ANNOUNCEMENT_QUEUE,
    "broker_message_id": tags.ANNOUNCEMENT_BROKER_ID,
    "published_at": tags.ANNOUNCED_AT,
}


def receipt_tags(receipt: PublishReceipt, current_tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """
    The tags that record ``receipt`` on its model version, in the order they are written (one request each): the
    receipt as one JSON tag, the earlier failure's reason cleared when ``current_tags`` (the version as read before
    publishing) has one, and the status last, so the pending index only turns ``published`` once the receipt is in.
    """
    recorded = {key: getattr(receipt, key) for key in RECEIPT_FIELDS}
    written = {tags.ANNOUNCEMENT_RECEIPT: json.dumps(recorded, separators=(",", ":"), sort_keys=True)}
    if (current_tags or {}).get(tags.ANNOUNCEMENT_ERROR):
        written[tags.ANNOUNCEMENT_ERROR] = ""
    return written | {tags.ANNOUNCEMENT_STATUS: tags.ANNOUNCEMENT_PUBLISHED}


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
    found = _json_receipt(version_tags.get(tags.ANNOUNCEMENT_RECEIPT))
    if found is not None:
        return found
    if not (version_tags.get(tags.ANNOUNCED_AT) and version_tags.get(tags.ANNOUNCEMENT_MESSAGE_ID)):
        return None
    return {key: version_tags.get(tag) or None for key, tag in _LEGACY_TAGS.items()}

"""The validation evidence a model version carries: one definition of the tags, whoever validated the version.

``RegisterModelOperator`` (a training DAG's registration) and
:mod:`airflow_provider_hokusai.announcement.candidates` (versions registered anywhere, reached through MLflow webhooks
or discovery) both write these tags, and
:class:`~airflow_provider_hokusai.announcement.announcer.ModelReadyAnnouncer` rebuilds the announcement from them.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_hokusai.exceptions import InvalidInputError
from airflow_provider_hokusai.gate.baseline import BaselineEvidence
from airflow_provider_hokusai.messages.model_ready import MAX_TAG_VALUE_LENGTH
from airflow_provider_hokusai.queue.receipts import receipt_from_tags
from airflow_provider_hokusai.registry import tags

__all__ = ["evidence_tags", "with_pending_mark"]


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

"""Versions registered anywhere (notebooks, CI, the platform's ``register_tokenized_model``), validated and announced.

A version is a Hokusai *candidate* when it carries the upstream platform's tags: ``hokusai_token_id``,
``benchmark_metric`` and ``benchmark_value``. For each candidate :func:`process_version` reads the metric of the
run that produced it, decides with the baseline gate's own rules (:func:`~airflow_provider_hokusai.triggers.
check.check_baseline`; the baseline is ``benchmark_value``, or the champion alias's metric when one is given and
exists), writes the same evidence tags as ``RegisterModelOperator`` (:func:`~airflow_provider_hokusai.registry.evidence.
evidence_tags`, pending mark included) and announces through :meth:`ModelReadyAnnouncer.announce`, the one
exactly-once path. A version that misses its baseline is tagged ``hokusai_status=failed`` with the reason in
``hokusai_validation_error``, and nothing is published.

Versions arrive from the ``hokusai_model_version_registered`` asset (MLflow webhooks, verified by the
``/hokusai/webhooks`` receiver) or from :func:`discover`, the fallback that pages through the registry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer, VersionRef
from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidInputError
from airflow_provider_hokusai.gate.baseline import BaselineCriteria, BaselineEvidence
from airflow_provider_hokusai.messages.model_ready import TOKEN_SYMBOL_PATTERN
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.errors import is_not_found
from airflow_provider_hokusai.registry.events import MODEL_VERSION_ASSET
from airflow_provider_hokusai.registry.evidence import evidence_tags, receipt_from_tags, with_pending_mark
from airflow_provider_hokusai.utils.redaction import describe, redact_text
from airflow_provider_hokusai.utils.validation import validate

__all__ = ["MODEL_VERSION_ASSET", "CandidateProcessor", "VersionOutcome", "announce_versions", "discover"]

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

log = logging.getLogger(__name__)

_DISCOVERY_FILTER = f"tags.`{t.TOKEN_ID}` LIKE '%'"
_TOKEN = re.compile(TOKEN_SYMBOL_PATTERN)


@dataclass(frozen=True)
class VersionOutcome:
    """What happened to one version; ``to_dict`` is the DAG task's XCom entry."""

    model_name: str
    version: str
    outcome: str  # skipped | waiting | failed | published | already_published
    reason: str = ""
    message_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def versions_from_events(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """
    ``(model_name, version)`` of each event's extra, once each, in arrival order; extras without both are skipped.

    :param events: Asset event extras (``{model_name, version, event}``), or the same dicts given by hand.
    """
    found: dict[tuple[str, str], None] = {}
    for extra in events:
        name, version = extra.get("model_name"), extra.get("version")
        if isinstance(name, str) and name and isinstance(version, str | int) and str(version):
            found[(name, str(version))] = None
        else:
            log.warning("Ignoring an event without model_name and version: %s", sorted(extra))
    return list(found)


def not_a_candidate(version_tags: Mapping[str, str]) -> str | None:
    """Why a version is not a Hokusai candidate (no token id, or no benchmark); None when it is one."""
    if not version_tags.get(t.TOKEN_ID):
        return f"no {t.TOKEN_ID} tag"
    missing = [k for k in (t.BENCHMARK_METRIC, t.BENCHMARK_VALUE) if not version_tags.get(k)]
    return f"no benchmark (missing {', '.join(missing)})" if missing else None


def criteria_for(
    model_name: str, run_id: str, version_tags: Mapping[str, str], champion_alias: str | None = None
) -> BaselineCriteria:
    """
    The gate's question for a candidate: its run's ``benchmark_metric`` against ``benchmark_value`` (or the metric
    of ``model_name@champion_alias`` when given and it exists), direction from ``hokusai_direction`` or inferred.

    :raises InvalidInputError: naming every tag that breaks a rule (e.g. a non-numeric ``benchmark_value``).
    """
    from airflow_provider_hokusai.exceptions import InvalidInputError

    fields = {
        "metric_name": version_tags.get(t.BENCHMARK_METRIC),
        "run_id": run_id,
        "baseline_value": version_tags.get(t.BENCHMARK_VALUE),
        "direction": version_tags.get(t.DIRECTION),
        "baseline_model_name": model_name if champion_alias else None,
        "baseline_alias": champion_alias,
    }
    return validate(BaselineCriteria, fields, InvalidInputError, subject="baseline comparison input")


def token_symbol(version_tags: Mapping[str, str]) -> str:
    """
    The contract's token symbol from ``hokusai_token_id`` (upper-cased, as registration does).

    :raises InvalidInputError: it does not match the contract's pattern.
    """
    symbol = version_tags[t.TOKEN_ID].strip().upper()
    if not _TOKEN.match(symbol):
        raise InvalidInputError([(t.TOKEN_ID, f"must match {TOKEN_SYMBOL_PATTERN} (upper-cased)")])
    return symbol


def changed(wanted: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """The tags of ``wanted`` that ``current`` does not already hold (each write is one more webhook event)."""
    return {k: v for k, v in wanted.items() if current.get(k) != v}


class CandidateProcessor:
    """
    Validate and announce candidate versions, one at a time.

    :param announcer: The exactly-once announcer; its MLflow hook is where versions are read and tagged.
    :param champion_alias: Compare with the metric of ``<model>@<alias>`` when that alias exists.
    """

    def __init__(self, announcer: ModelReadyAnnouncer, champion_alias: str | None = None) -> None:
        self.announcer = announcer
        self.hook: MLflowHook = announcer.mlflow_hook
        self.champion_alias = champion_alias or None

    def process(self, model_name: str, version: str) -> VersionOutcome:
        """
        One version: skip, wait, tag failed, or validate and announce.

        :raises HokusaiRetryableError: the registry or the queue is unavailable; a retry is safe.
        """
        found = self.hook.get_model_version(model_name, version)
        name, number, current = str(found.name), str(found.version), dict(found.tags or {})
        receipt = receipt_from_tags(current)
        if receipt is not None:
            return VersionOutcome(name, number, "already_published", "has a receipt", receipt["message_id"])
        if current.get(t.STATUS) != t.STATUS_VALIDATED:
            reason = not_a_candidate(current)
            if reason:
                return VersionOutcome(name, number, "skipped", f"not a Hokusai candidate: {reason}")
            refused = self._validate(name, number, found.run_id, current)
            if refused is not None:
                return refused
        return self._announce(name, number)

    def _validate(self, name: str, version: str, run_id: str | None, current: dict[str, str]) -> VersionOutcome | None:
        """Decide the candidate; on success write its evidence and return None, else what became of it."""
        from airflow_provider_hokusai.gate.check import check_baseline

        if not run_id:
            return self._fail(name, version, current, "the version has no run to read its metric from")
        try:
            criteria = criteria_for(name, str(run_id), current, self.champion_alias)
            symbol = token_symbol(current)
        except InvalidInputError as exc:
            return self._fail(name, version, current, str(exc))
        check = check_baseline(self.hook, criteria)
        if check.status == "pending":
            return VersionOutcome(name, version, "waiting", check.reason)
        if check.status == "failed" or check.evidence is None:
            return self._fail(name, version, current, check.reason)
        self._record_evidence(name, version, current, check.evidence, symbol)
        return None

    def _record_evidence(
        self, name: str, version: str, current: dict[str, str], evidence: BaselineEvidence, symbol: str
    ) -> None:
        wanted = evidence_tags(evidence, token_symbol=symbol, model_id=current.get(t.MODEL_ID) or name)
        if current.get(t.VALIDATION_ERROR):
            wanted[t.VALIDATION_ERROR] = ""  # validated now; the earlier failure no longer stands
        self.hook.set_model_version_tags(name, version, changed(with_pending_mark(wanted, current), current))
        log.info("%s v%s validated: %s", name, version, evidence.model_dump(mode="json"))

    def _announce(self, name: str, version: str) -> VersionOutcome:
        try:
            result = self.announcer.announce(VersionRef(model_name=name, model_version=version))
        except HokusaiPermanentError as exc:
            # The announcer recorded the failure on the version; reconciliation lists it.
            return VersionOutcome(name, version, "failed", describe(exc))
        message_id = (result.receipt or {}).get("message_id")
        return VersionOutcome(name, version, result.outcome, "announced", message_id)

    def _fail(self, name: str, version: str, current: Mapping[str, str], reason: str) -> VersionOutcome:
        reason = redact_text(reason, t.MAX_REASON_CHARS)
        wanted = {t.STATUS: t.STATUS_FAILED, t.VALIDATION_ERROR: reason}
        self.hook.set_model_version_tags(name, version, changed(wanted, current))
        log.warning("%s v%s is not announced: %s", name, version, reason)
        return VersionOutcome(name, version, "failed", reason)


def discover(hook: MLflowHook, max_versions: int = 500) -> tuple[list[tuple[str, str]], bool]:
    """
    The fallback for registries without webhooks: versions carrying a token id and no ``hokusai_status``, oldest
    first, at most ``max_versions`` (paged through the registry). Returns them and whether the bound cut the search.

    :raises RegistryUnavailableError: the registry could not be searched.
    """
    from airflow_provider_hokusai.registry.search import search_pages

    found: list[tuple[str, str]] = []
    for page in search_pages(hook, _DISCOVERY_FILTER):
        for version in page:
            version_tags = version.tags or {}
            if version_tags.get(t.STATUS) or receipt_from_tags(version_tags) is not None:
                continue
            if len(found) == max_versions:
                return found, True
            found.append((str(version.name), str(version.version)))
    return found, False


def announce_versions(
    versions: Iterable[tuple[str, str]],
    *,
    mlflow_conn_id: str = "mlflow_default",
    queue_conn_id: str,
    queue_name: str | None = None,
    champion_alias: str | None = None,
) -> list[dict[str, Any]]:
    """
    :class:`CandidateProcessor` over ``versions`` with hooks built from the connections (what the example DAGs run).

    Every version is tried; a retryable error (registry or queue down) is raised after the others were handled, so
    the task's retry comes back for it (announced versions are not published twice).
    """
    from airflow_provider_hokusai.exceptions import HokusaiRetryableError
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.hooks.queue import get_queue_hook

    announcer = ModelReadyAnnouncer(MLflowHook(mlflow_conn_id), get_queue_hook(queue_conn_id, queue_name=queue_name))
    processor = CandidateProcessor(announcer, champion_alias)
    outcomes: list[dict[str, Any]] = []
    retry: HokusaiRetryableError | None = None
    for name, version in versions:
        try:
            outcome = processor.process(name, version)
        except HokusaiRetryableError as exc:
            retry = exc
            outcome = VersionOutcome(name, version, "retry", describe(exc))
        except Exception as exc:
            if not is_not_found(exc):
                raise
            outcome = VersionOutcome(name, version, "skipped", "the version does not exist")
        log.info("%s v%s: %s (%s)", outcome.model_name, outcome.version, outcome.outcome, outcome.reason)
        outcomes.append(outcome.to_dict())
    if retry is not None:
        raise retry
    return outcomes

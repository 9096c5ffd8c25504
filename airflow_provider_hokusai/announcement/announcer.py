"""The one announcement path: registry evidence → contract message → queue → receipt back in the registry.

``PublishModelReadyOperator``, ``ReconcileAnnouncementsOperator`` and the ``hokusai-reconcile`` command all go
through :class:`ModelReadyAnnouncer`, so a version is announced the same way whoever announces it.

Exactly-once, as the broker allows, rests on three facts:

* the message id is derived from (model name, version), so every attempt for a version carries the same id;
* the queue hooks deduplicate on that id, so a retry after a crash between publish and receipt pushes nothing;
* the receipt is written to the model version's tags, so a version that has one is never published again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.exceptions import (
    AnnouncementRefusedError,
    HokusaiError,
    HokusaiPermanentError,
    InvalidModelReadyMessage,
    ModelRegistrationTimeout,
    QueueBatchError,
    ReceiptNotRecordedError,
)
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message, parse_tag_number
from airflow_provider_hokusai.queue.receipts import PublishReceipt
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.errors import is_not_found, unavailable
from airflow_provider_hokusai.registry.evidence import receipt_from_tags, receipt_tags
from airflow_provider_hokusai.utils.redaction import describe, redact_text

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.base_queue import ModelReadyQueueHook
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["AnnouncementResult", "ModelReadyAnnouncer", "VersionRef", "message_from_version_tags"]

log = logging.getLogger(__name__)

_READY = "READY"
_FAILED_REGISTRATION = "FAILED_REGISTRATION"

# MLflow caps tag values at 5000 characters (8000 on newer servers); reasons are kept well below either.

_REQUIRED_EVIDENCE = {
    t.TOKEN_ID: "token_symbol",
    t.BENCHMARK_METRIC: "metric_name",
    t.BENCHMARK_VALUE: "baseline_value",
    t.CURRENT_VALUE: "current_value",
}


@dataclass(frozen=True)
class VersionRef:
    """A registered model version to announce, with the caller's optional overrides."""

    model_name: str
    model_version: str
    model_id: str | None = None
    contributor_address: str | None = None
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """``(model_name, model_version)``."""
        return self.model_name, self.model_version


def message_from_version_tags(
    model_name: str,
    model_version: str,
    version_tags: Mapping[str, str],
    *,
    run_id: str | None = None,
    model_id: str | None = None,
    contributor_address: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> ModelReadyToDeployMessage:
    """
    Rebuild the contract message from the evidence RegisterModelOperator wrote on the version.

    :raises AnnouncementRefusedError: the version is not validated, or its evidence is missing.
    :raises InvalidModelReadyMessage: the evidence breaks the contract (e.g. no longer beats the baseline).
    """
    status = version_tags.get(t.STATUS)
    if status != t.STATUS_VALIDATED:
        raise AnnouncementRefusedError(
            f"{model_name} v{model_version} is not validated (tag {t.STATUS}={status!r}); nothing was published"
        )
    missing = [tag for tag in _REQUIRED_EVIDENCE if not version_tags.get(tag)]
    if missing:
        raise AnnouncementRefusedError(
            f"{model_name} v{model_version} lacks the evidence tag(s) {', '.join(missing)}; nothing was published"
        )
    # Strictly JSON numbers: no "1_000", " 1", "nan" or "inf" that float() would take.
    baseline_value = parse_tag_number("baseline_value", version_tags[t.BENCHMARK_VALUE])
    current_value = parse_tag_number("current_value", version_tags[t.CURRENT_VALUE])
    return build_model_ready_message(
        model_name=model_name,
        model_version=model_version,
        mlflow_run_id=version_tags.get(t.RUN_ID) or run_id or "",
        token_symbol=version_tags[t.TOKEN_ID],
        metric_name=version_tags[t.BENCHMARK_METRIC],
        direction=version_tags.get(t.DIRECTION) or None,
        model_id=model_id or version_tags.get(t.MODEL_ID) or None,
        contributor_address=contributor_address or version_tags.get(t.CONTRIBUTOR_ADDRESS) or None,
        experiment_name=version_tags.get(t.EXPERIMENT_NAME) or None,
        tags=dict(extra_tags or {}),
        baseline_value=baseline_value,
        current_value=current_value,
    )


@dataclass
class AnnouncementResult:
    """Outcome for one version; ``to_dict`` is the operators' XCom value."""

    model_name: str
    model_version: str
    outcome: str  # "published" | "already_published" | "failed"
    receipt: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelReadyAnnouncer:
    """
    Announce registered model versions exactly once.

    :param mlflow_hook: Where the evidence is read and the receipt written.
    :param queue_hook: Where the message is published.
    """

    def __init__(self, mlflow_hook: MLflowHook, queue_hook: ModelReadyQueueHook) -> None:
        self.mlflow_hook = mlflow_hook
        self.queue_hook = queue_hook

    def announce(self, ref: VersionRef) -> AnnouncementResult:
        """
        Announce one version, or return its existing receipt.

        The version is first resolved in the registry: ``"01"`` and ``1`` are the same version, and only the
        registry's canonical name and version feed the message id, the dedup keys and the receipt.

        :raises HokusaiPermanentError: the version cannot be announced (not validated, bad evidence, missing queue);
            the failure is recorded on the version.
        :raises HokusaiRetryableError: the broker or the registry is unavailable; the failure is recorded on the
            version when the registry is reachable, and a retry is safe (``RegistryUnavailableError`` when the
            version cannot be read at all).
        """
        ref, version = self._read_version(ref)
        existing = receipt_from_tags(version.tags or {})
        if existing is not None:
            log.info("%s v%s was already announced (message %s)", *ref.key, existing["message_id"])
            self.settle_status(ref, version.tags or {})
            return AnnouncementResult(*ref.key, "already_published", receipt=existing)
        try:
            receipt = self.queue_hook.publish(self._message(ref, version))
        except HokusaiError as exc:
            self._record_failure(ref, exc)
            raise
        self._record_receipt(ref, receipt, version.tags or {})
        log.info(
            "Announced %s v%s as message %s on %s queue %s (duplicate=%s)",
            *ref.key,
            receipt.message_id,
            receipt.backend,
            receipt.queue,
            receipt.duplicate,
        )
        return AnnouncementResult(*ref.key, "published", receipt=receipt.to_dict())

    def announce_many(self, refs: Iterable[VersionRef]) -> list[AnnouncementResult]:
        """
        Announce many versions with one batched publish; never raises for a single version's failure.

        Versions already announced are skipped, versions whose evidence is bad are tagged failed, the rest go
        through :meth:`ModelReadyQueueHook.publish_many` (same deduplication as single publishes).
        """
        results: list[AnnouncementResult] = []
        pending: list[tuple[VersionRef, ModelReadyToDeployMessage, Mapping[str, str]]] = []
        for ref in refs:
            prepared = self._prepare(ref)
            if isinstance(prepared, AnnouncementResult):
                results.append(prepared)
            else:
                pending.append(prepared)
        if not pending:
            return results
        outcomes: dict[int, PublishReceipt | HokusaiError]
        try:
            outcomes = dict(enumerate(self.queue_hook.publish_many([m for _, m, _ in pending])))
        except QueueBatchError as exc:
            # Accepted entries get their receipts; only the refused ones are tagged failed.
            outcomes = {**exc.receipts, **exc.errors}
        except HokusaiError as exc:
            outcomes = dict.fromkeys(range(len(pending)), exc)
        for index, (ref, _, version_tags) in enumerate(pending):
            results.append(self._settle(ref, outcomes[index], version_tags))
        return results

    def _prepare(
        self, ref: VersionRef
    ) -> AnnouncementResult | tuple[VersionRef, ModelReadyToDeployMessage, Mapping[str, str]]:
        """
        The message to publish for ``ref`` (canonical) and the version's tags as read, or its result when there is
        nothing to publish.
        """
        try:
            canonical, version = self._read_version(ref)
            existing = receipt_from_tags(version.tags or {})
            if existing is not None:
                self.settle_status(canonical, version.tags or {})
                return AnnouncementResult(*canonical.key, "already_published", receipt=existing)
            return canonical, self._message(canonical, version), version.tags or {}
        except (AnnouncementRefusedError, InvalidModelReadyMessage, ModelRegistrationTimeout) as exc:
            # A version not READY yet is tagged failed (retryable) like any other; the next reconciliation takes it.
            self._record_failure(ref, exc)
            return AnnouncementResult(*ref.key, "failed", error=redact_text(str(exc)))

    def _settle(
        self, ref: VersionRef, outcome: PublishReceipt | HokusaiError, version_tags: Mapping[str, str]
    ) -> AnnouncementResult:
        """Record one publish outcome on its version (``version_tags``: its tags as read before publishing)."""
        if isinstance(outcome, HokusaiError):
            self._record_failure(ref, outcome)
            return AnnouncementResult(*ref.key, "failed", error=redact_text(str(outcome)))
        self._record_receipt(ref, outcome, version_tags)
        return AnnouncementResult(*ref.key, "published", receipt=outcome.to_dict())

    def _read_version(self, ref: VersionRef) -> tuple[VersionRef, Any]:
        """
        The version from the registry and ``ref`` in the registry's canonical spelling, or a typed error: a refusal
        when it does not exist, a retryable one when the registry cannot be reached.
        """
        try:
            version = self.mlflow_hook.get_model_version(ref.model_name, ref.model_version)
        except Exception as exc:
            if is_not_found(exc):
                raise AnnouncementRefusedError(
                    f"{ref.model_name} v{ref.model_version} does not exist in the MLflow registry; "
                    "nothing was published"
                ) from None
            raise unavailable(exc, f"read {ref.model_name} v{ref.model_version} from the MLflow registry") from None
        return replace(ref, model_name=str(version.name), model_version=str(version.version)), version

    @staticmethod
    def _message(ref: VersionRef, version: Any) -> ModelReadyToDeployMessage:
        """
        The contract message of ``version`` (as :meth:`_read_version` returns it), with the caller's overrides.

        :raises AnnouncementRefusedError: the registry failed to register the version (FAILED_REGISTRATION).
        :raises ModelRegistrationTimeout: the registry has not made the version READY yet (its evidence is written
            with it, at creation, before an asynchronous registry finishes; a webhook fires then): a retry announces it.
        """
        status = str(getattr(version, "status", None) or _READY)
        if status == _FAILED_REGISTRATION:
            raise AnnouncementRefusedError(
                f"{ref.model_name} v{ref.model_version} is {status} in the MLflow registry; nothing was published"
            )
        if status != _READY:
            raise ModelRegistrationTimeout(
                f"{ref.model_name} v{ref.model_version} is {status}, not READY yet, in the MLflow registry; "
                "nothing was published and a retry is safe"
            )
        return message_from_version_tags(
            ref.model_name,
            ref.model_version,
            version.tags or {},
            run_id=version.run_id,
            model_id=ref.model_id,
            contributor_address=ref.contributor_address,
            extra_tags=ref.extra_tags,
        )

    def _record_receipt(self, ref: VersionRef, receipt: PublishReceipt, version_tags: Mapping[str, str]) -> None:
        try:
            written = receipt_tags(receipt, version_tags)
            self.mlflow_hook.set_model_version_tags(ref.model_name, ref.model_version, written)
        except Exception as exc:
            # Published but unrecorded: a retry republishes the same message id, which the queue hook absorbs as a
            # duplicate, and then records the receipt.
            raise ReceiptNotRecordedError(
                f"{ref.model_name} v{ref.model_version} was published as message {receipt.message_id} but its receipt "
                f"could not be written to MLflow ({describe(exc)}); retrying is safe"
            ) from None

    def settle_status(self, ref: VersionRef, version_tags: Mapping[str, str]) -> bool:
        """
        Mark ``published`` a version whose receipt is in but whose status tag says otherwise, so that it leaves the
        pending index: a worker stopped between the two writes, or recorded a failure racing the one that published.
        One request, best effort: the receipt alone already reads as announced.

        :param version_tags: The version's tags as just read, its receipt among them.
        :return: Whether the status was written.
        """
        if version_tags.get(t.ANNOUNCEMENT_STATUS) == t.ANNOUNCEMENT_PUBLISHED:
            return False
        try:
            self.mlflow_hook.set_model_version_tags(*ref.key, {t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_PUBLISHED})
        except Exception as exc:
            log.warning("Could not mark %s v%s published (%s); the next look tries again", *ref.key, describe(exc))
            return False
        log.info("%s v%s has its receipt: its status now reads published", *ref.key)
        return True

    def _record_failure(self, ref: VersionRef, exc: BaseException) -> None:
        """
        Tag the version failed with the (redacted) reason, unless it holds a receipt: a worker that read the version
        before another one published it must not make it look unannounced.
        """
        kind = "permanent" if isinstance(exc, HokusaiPermanentError) else "retryable"
        reason = f"{kind}: {describe(exc)}"[: t.MAX_REASON_CHARS]
        hook = self.mlflow_hook
        try:
            if receipt_from_tags(hook.get_model_version(*ref.key).tags or {}) is not None:
                log.info("%s v%s keeps its receipt; this attempt failed: %s", *ref.key, reason)
                return
            hook.set_model_version_tags(
                *ref.key, {t.ANNOUNCEMENT_ERROR: reason, t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_FAILED}
            )
            # A receipt written in between wins: put its status back (the receipt alone already reads published).
            current = hook.get_model_version(*ref.key).tags or {}
            if receipt_from_tags(current) is not None:
                self.settle_status(ref, current)
        except Exception:
            # The original error matters more than the bookkeeping; reconciliation still finds the version because
            # it has no receipt.
            log.warning("Could not tag %s v%s with its announcement failure", *ref.key)

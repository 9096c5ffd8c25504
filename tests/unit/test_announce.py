"""ModelReadyAnnouncer against in-memory fakes of the two hooks (the real ones are covered in integration/system)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer, VersionRef, message_from_version_tags
from airflow_provider_hokusai.announcement.reconcile import reconcile
from airflow_provider_hokusai.exceptions import (
    AnnouncementRefusedError,
    HokusaiRetryableError,
    InvalidModelReadyMessage,
    ModelRegistrationTimeout,
    ReceiptNotRecordedError,
)
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, message_id_for
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from hokusai_testkit.registry import FakeMLflowRegistry


@dataclass
class FakeReceipt:
    message_id: str
    backend: str = "redis"
    queue: str = "hokusai:model_ready_queue"
    broker_message_id: str | None = "1"
    duplicate: bool = False
    attempts: int = 1
    duration_ms: float = 1.0
    published_at: str = "2026-01-01T00:00:00Z"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FakeQueue:
    published: list[ModelReadyToDeployMessage] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    fail: Exception | None = None

    def _one(self, message: ModelReadyToDeployMessage) -> FakeReceipt:
        duplicate = message.message_id in self.seen
        if not duplicate:
            self.seen.add(message.message_id)
            self.published.append(message)
        return FakeReceipt(message_id=message.message_id, duplicate=duplicate)

    def publish(self, message: ModelReadyToDeployMessage) -> FakeReceipt:
        if self.fail:
            raise self.fail
        return self._one(message)

    def publish_many(self, messages: list[ModelReadyToDeployMessage]) -> list[FakeReceipt]:
        if self.fail:
            raise self.fail
        return [self._one(m) for m in messages]


def make(**kwargs: Any) -> tuple[ModelReadyAnnouncer, FakeMLflowRegistry, FakeQueue]:
    mlflow, queue = FakeMLflowRegistry(), FakeQueue(**kwargs)
    return ModelReadyAnnouncer(mlflow, queue), mlflow, queue  # type: ignore[arg-type]


def test_announce_publishes_once_and_records_receipt() -> None:
    announcer, mlflow, queue = make()
    mlflow.add_validated("m", "1", **{t.TOKEN_ID: "hkbc"})
    first = announcer.announce(VersionRef("m", "1"))
    assert first.outcome == "published"
    assert len(queue.published) == 1
    message = queue.published[0]
    assert message.token_symbol == "HKBC" and message.mlflow_run_id == "run-1"
    assert message.message_id == message_id_for("m", "1")
    version_tags = mlflow.tags_of("m", "1")
    assert version_tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert (receipt_from_tags(version_tags) or {}).get("message_id") == message.message_id

    again = announcer.announce(VersionRef("m", "1"))
    assert again.outcome == "already_published"
    assert again.receipt and again.receipt["message_id"] == message.message_id
    assert len(queue.published) == 1


def test_not_validated_version_is_refused_and_tagged() -> None:
    announcer, mlflow, queue = make()
    mlflow.add_validated("m", "1", **{t.STATUS: "pending"})
    with pytest.raises(AnnouncementRefusedError, match="not validated"):
        announcer.announce(VersionRef("m", "1"))
    assert not queue.published
    assert mlflow.tags_of("m", "1")[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_FAILED


def test_a_version_not_ready_yet_is_retried_and_announced_once_ready() -> None:
    # A webhook fires when the version is created, before an asynchronous registry makes it READY.
    from hokusai_testkit.mlflow import validated_tags

    announcer, mlflow, queue = make()
    mlflow.add("m", "1", tags=validated_tags(**{t.RUN_ID: "run-1"}), statuses=("PENDING_REGISTRATION", "READY"))
    with pytest.raises(ModelRegistrationTimeout, match="not READY yet"):
        announcer.announce(VersionRef("m", "1"))
    assert not queue.published
    assert announcer.announce(VersionRef("m", "1")).outcome == "published"
    assert len(queue.published) == 1


def test_a_version_the_registry_failed_to_register_is_refused() -> None:
    from hokusai_testkit.mlflow import validated_tags

    announcer, mlflow, queue = make()
    mlflow.add("m", "1", tags=validated_tags(**{t.RUN_ID: "run-1"}), statuses=("FAILED_REGISTRATION",))
    with pytest.raises(AnnouncementRefusedError, match="FAILED_REGISTRATION"):
        announcer.announce(VersionRef("m", "1"))
    assert [r.outcome for r in announcer.announce_many([VersionRef("m", "1")])] == ["failed"]
    assert not queue.published


def test_evidence_that_no_longer_beats_baseline_is_refused() -> None:
    announcer, mlflow, queue = make()
    mlflow.add_validated("m", "1", **{t.CURRENT_VALUE: "0.85"})
    with pytest.raises(InvalidModelReadyMessage, match="improvement_percentage"):
        announcer.announce(VersionRef("m", "1"))
    assert not queue.published


def test_missing_evidence_names_the_tag() -> None:
    with pytest.raises(AnnouncementRefusedError, match=t.BENCHMARK_VALUE):
        message_from_version_tags("m", "1", {t.STATUS: t.STATUS_VALIDATED, t.TOKEN_ID: "X"})


def test_lower_is_better_evidence_round_trips() -> None:
    message = message_from_version_tags(
        "m",
        "3",
        {
            t.STATUS: t.STATUS_VALIDATED,
            t.TOKEN_ID: "abc",
            t.BENCHMARK_METRIC: "rmse",
            t.BENCHMARK_VALUE: "2.0",
            t.CURRENT_VALUE: "1.5",
            t.DIRECTION: "lower_is_better",
            t.MODEL_ID: "abc-model",
        },
        run_id="r",
    )
    assert message.improvement_percentage == pytest.approx(25.0)
    assert message.model_id == "abc-model" and message.mlflow_run_id == "r"


def test_broker_failure_is_retryable_and_tagged() -> None:
    announcer, mlflow, _ = make(fail=HokusaiRetryableError("broker down"))
    mlflow.add_validated("m", "1")
    with pytest.raises(HokusaiRetryableError):
        announcer.announce(VersionRef("m", "1"))
    tags = mlflow.tags_of("m", "1")
    assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_FAILED
    assert "retryable" in tags[t.ANNOUNCEMENT_ERROR]


def test_receipt_write_failure_is_retryable_and_retry_is_absorbed() -> None:
    announcer, mlflow, queue = make()
    mlflow.add_validated("m", "1")
    mlflow.fail_tag_writes = True
    with pytest.raises(ReceiptNotRecordedError):
        announcer.announce(VersionRef("m", "1"))
    mlflow.fail_tag_writes = False
    result = announcer.announce(VersionRef("m", "1"))
    assert result.receipt and result.receipt["duplicate"] is True
    assert len(queue.published) == 1


def test_reconcile_announces_only_what_lacks_a_receipt() -> None:
    announcer, mlflow, queue = make()
    for version in ("1", "2", "3"):
        mlflow.add_validated("m", version)
    # Not validated, so registration never put it in the pending index.
    mlflow.add_validated("m", "4", **{t.STATUS: "pending", t.ANNOUNCEMENT_STATUS: None})
    mlflow.add_validated("m", "5", **{t.CURRENT_VALUE: "0.1"})
    announcer.announce(VersionRef("m", "1"))
    summary = reconcile(announcer)
    assert summary["found"] == 3  # 2, 3 and the bad 5; 1 has a receipt and 4 is not validated
    assert summary["published"] == 2
    assert [f["model_version"] for f in summary["failed"]] == ["5"]
    assert reconcile(announcer)["published"] == 0
    assert sorted(m.model_version for m in queue.published) == ["1", "2", "3"]

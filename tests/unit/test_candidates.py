"""The registry-event path's decisions (``airflow_provider_hokusai.announcement.candidates``), on an in-memory registry.

The same path on real servers, webhooks included: ``tests/system/test_registry_webhooks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_hokusai.announcement.announcer import AnnouncementResult, VersionRef
from airflow_provider_hokusai.announcement.candidates import (
    CandidateProcessor,
    changed,
    criteria_for,
    not_a_candidate,
    token_symbol,
    versions_from_events,
)
from airflow_provider_hokusai.exceptions import InvalidInputError
from airflow_provider_hokusai.gate.baseline import CandidateRun
from airflow_provider_hokusai.registry import tags as t

UPSTREAM = {t.TOKEN_ID: "hkw", t.BENCHMARK_METRIC: "val_rmse", t.BENCHMARK_VALUE: "0.5"}


class StubHook:
    """A registry with one version of ``m`` and its run's metric, recording every tag write."""

    def __init__(self, version_tags: dict[str, str], metric: float | None, status: str = "FINISHED") -> None:
        self.tags = dict(version_tags)
        self.run = CandidateRun("run-1", status, "7", "exp", metric)
        self.writes: list[dict[str, str]] = []

    def get_model_version(self, name: str, version: str) -> Any:
        return SimpleNamespace(name=name, version=str(int(version)), run_id="run-1", tags=dict(self.tags))

    def set_model_version_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        self.writes.append(dict(tags))
        self.tags.update(tags)

    def get_run(self, run_id: str) -> Any:
        info = SimpleNamespace(run_id=run_id, status=self.run.status, experiment_id="7")
        return SimpleNamespace(info=info, data=SimpleNamespace(metrics={}))

    def find_candidate_run(self, criteria: Any, run: Any = None) -> CandidateRun:
        return self.run

    def get_alias_metric(self, model_name: str, alias: str, metric_name: str) -> float | None:
        return 0.3 if alias == "champion" else None


class StubAnnouncer:
    def __init__(self, hook: StubHook) -> None:
        self.mlflow_hook = hook
        self.announced: list[VersionRef] = []

    def announce(self, ref: VersionRef) -> AnnouncementResult:
        self.announced.append(ref)
        return AnnouncementResult(*ref.key, "published", receipt={"message_id": "id-1"})


def processor(hook: StubHook, champion: str | None = None) -> tuple[CandidateProcessor, StubAnnouncer]:
    announcer = StubAnnouncer(hook)
    return CandidateProcessor(announcer, champion), announcer  # type: ignore[arg-type]


def test_versions_from_events_once_each_in_order() -> None:
    events = [
        {"model_name": "m", "version": "2", "event": "model_version.created"},
        {"model_name": "m", "version": 2, "event": "model_version_tag.set"},
        {"model_name": "n", "version": "1"},
        {"version": "3"},
    ]
    assert versions_from_events(events) == [("m", "2"), ("n", "1")]


def test_candidacy_needs_a_token_and_a_benchmark() -> None:
    assert not_a_candidate(UPSTREAM) is None
    assert not_a_candidate({}) == f"no {t.TOKEN_ID} tag"
    assert not_a_candidate({t.TOKEN_ID: "X"}) == f"no benchmark (missing {t.BENCHMARK_METRIC}, {t.BENCHMARK_VALUE})"


def test_criteria_and_token_from_the_upstream_tags() -> None:
    criteria = criteria_for("m", "run-1", UPSTREAM, "champion")
    assert (criteria.metric_name, criteria.baseline_value, criteria.baseline_alias) == ("val_rmse", 0.5, "champion")
    with pytest.raises(InvalidInputError) as caught:
        criteria_for("m", "run-1", {**UPSTREAM, t.BENCHMARK_VALUE: "half"})
    assert caught.value.fields == ["baseline_value"]
    assert token_symbol(UPSTREAM) == "HKW"
    with pytest.raises(InvalidInputError) as bad:
        token_symbol({t.TOKEN_ID: "far too long a token"})
    assert bad.value.fields == [t.TOKEN_ID]


def test_changed_keeps_only_new_values() -> None:
    assert changed({"a": "1", "b": "2"}, {"a": "1"}) == {"b": "2"}


def test_a_candidate_that_beats_its_baseline_gets_the_evidence_then_is_announced() -> None:
    hook = StubHook(UPSTREAM, metric=0.4)  # rmse: lower is better
    proc, announcer = processor(hook)
    outcome = proc.process("m", "01")
    assert (outcome.outcome, outcome.version, outcome.message_id) == ("published", "1", "id-1")
    assert announcer.announced == [VersionRef("m", "1")]
    (written,) = hook.writes
    assert written[t.STATUS] == t.STATUS_VALIDATED and written[t.DIRECTION] == "lower_is_better"
    assert written[t.TOKEN_ID] == "HKW" and t.BENCHMARK_METRIC not in written  # unchanged tags are not rewritten
    assert list(written)[-1] == t.ANNOUNCEMENT_STATUS and written[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PENDING


def test_a_champion_alias_sets_the_bar() -> None:
    hook = StubHook(UPSTREAM, metric=0.4)
    outcome, _ = processor(hook, "champion")[0].process("m", "1"), None
    assert outcome.outcome == "failed"
    assert "does not beat baseline 0.3" in hook.tags[t.VALIDATION_ERROR]


def test_missing_the_baseline_tags_failed_and_publishes_nothing() -> None:
    hook = StubHook(UPSTREAM, metric=0.6)
    proc, announcer = processor(hook)
    outcome = proc.process("m", "1")
    assert outcome.outcome == "failed" and announcer.announced == []
    assert hook.tags[t.STATUS] == t.STATUS_FAILED
    assert re.search(r"val_rmse=0.6 does not beat baseline 0.5", hook.tags[t.VALIDATION_ERROR])
    assert t.ANNOUNCEMENT_STATUS not in hook.tags


@pytest.mark.parametrize(
    ("version_tags", "status", "outcome"),
    [
        ({t.TOKEN_ID: "X"}, "FINISHED", "skipped"),
        (UPSTREAM, "RUNNING", "waiting"),
        ({**UPSTREAM, t.ANNOUNCED_AT: "2026-01-01T00:00:00Z", t.ANNOUNCEMENT_MESSAGE_ID: "id-0"}, "FINISHED", None),
    ],
)
def test_non_candidates_waiting_runs_and_receipts_are_left_alone(
    version_tags: dict[str, str], status: str, outcome: str | None
) -> None:
    hook = StubHook(version_tags, metric=0.4, status=status)
    proc, announcer = processor(hook)
    result = proc.process("m", "1")
    assert result.outcome == (outcome or "already_published")
    assert hook.writes == [] and announcer.announced == []


def test_the_docs_signature_snippet_runs() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    exec(compile(snippet, "docs/webhooks.md", "exec"), {})

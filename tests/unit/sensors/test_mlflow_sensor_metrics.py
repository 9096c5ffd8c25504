"""MLflowBaselineSensor counts each baseline decision once, on every path that decides, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import DAG, PokeReturnValue

from airflow_provider_hokusai.exceptions import (
    BaselineNotMetError,
    HokusaiPermanentError,
    HokusaiRetryableError,
)
from airflow_provider_hokusai.gate.baseline import BaselineCheck, BaselineEvidence, FailureKind
from airflow_provider_hokusai.sensors import mlflow as sensor_module
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor
from airflow_provider_hokusai.utils.metrics import BASELINE_FAILED, BASELINE_PASSED
from tests.fixtures.statsd import RecordingStatsLogger

EVIDENCE = BaselineEvidence(
    run_id="r1",
    experiment_id="1",
    experiment_name="exp",
    metric_name="accuracy",
    current_value=0.95,
    baseline_value=0.9,
    baseline_source="value",
    direction="higher_is_better",
    improvement_percentage=(0.95 - 0.9) / 0.9 * 100,
    min_improvement=0.0,
    passed=True,
)
XCOM = EVIDENCE.model_dump(mode="json")


def sensor(**kwargs: Any) -> MLflowBaselineSensor:
    with DAG("release", schedule=None):
        return MLflowBaselineSensor(
            task_id="validate", run_id="r1", metric_name="accuracy", baseline_value=0.9, **kwargs
        )


def checks(monkeypatch: pytest.MonkeyPatch, *results: BaselineCheck) -> None:
    """The looks at the run, in order (the real hook is exercised against mlflow in the integration tests)."""
    pending = list(results)
    monkeypatch.setattr(sensor_module, "check_baseline", lambda hook, criteria: pending.pop(0))


def decisions(recorder: RecordingStatsLogger) -> list[tuple[str, dict[str, Any]]]:
    return [(m.name, m.tags) for m in recorder.metrics if m.name in (BASELINE_PASSED, BASELINE_FAILED)]


def test_poke_counts_nothing_while_waiting_then_one_pass(
    stats_recorder: RecordingStatsLogger, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks(
        monkeypatch,
        BaselineCheck("pending", "run is RUNNING"),
        BaselineCheck("success", "beats baseline", evidence=EVIDENCE),
    )
    op = sensor()

    assert op.poke({}) is False  # type: ignore[arg-type]
    assert decisions(stats_recorder) == []
    done = op.poke({})  # type: ignore[arg-type]

    assert isinstance(done, PokeReturnValue) and done.is_done
    assert done.xcom_value == XCOM
    assert decisions(stats_recorder) == [
        (BASELINE_PASSED, {"metric": "accuracy", "dag_id": "release", "task_id": "validate"})
    ]
    assert stats_recorder.named(BASELINE_PASSED)[0].value == 1


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        ("baseline_not_met", BaselineNotMetError),
        ("run_failed", BaselineNotMetError),
        ("metric_missing", BaselineNotMetError),
        ("baseline_unavailable", BaselineNotMetError),
        ("invalid_input", BaselineNotMetError),
    ],
)
def test_poke_failure_is_counted_with_its_reason(
    stats_recorder: RecordingStatsLogger, monkeypatch: pytest.MonkeyPatch, error: str, raised: type[Exception]
) -> None:
    checks(monkeypatch, BaselineCheck("failed", "no good", failure=FailureKind(error)))

    with pytest.raises(raised) as exc:
        sensor().poke({})  # type: ignore[arg-type]

    assert decisions(stats_recorder) == [
        (BASELINE_FAILED, {"metric": "accuracy", "dag_id": "release", "task_id": "validate", "reason": error})
    ]
    assert isinstance(exc.value, HokusaiPermanentError)


def test_deferrable_first_look_decides_without_deferring(
    stats_recorder: RecordingStatsLogger, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks(monkeypatch, BaselineCheck("success", "beats baseline", evidence=EVIDENCE))

    assert sensor(deferrable=True).execute({}) == XCOM  # type: ignore[arg-type]

    assert [name for name, _ in decisions(stats_recorder)] == [BASELINE_PASSED]


def test_execute_complete_counts_the_trigger_decision(stats_recorder: RecordingStatsLogger) -> None:
    op = sensor(deferrable=True)

    assert op.execute_complete({}, {"status": "success", "reason": "ok", "evidence": XCOM}) == XCOM  # type: ignore[arg-type]
    with pytest.raises(BaselineNotMetError):
        op.execute_complete(
            {},  # type: ignore[arg-type]
            {"status": "failed", "reason": "0.8 < 0.9", "error": "baseline_not_met"},
        )

    assert decisions(stats_recorder) == [
        (BASELINE_PASSED, {"metric": "accuracy", "dag_id": "release", "task_id": "validate"}),
        (
            BASELINE_FAILED,
            {"metric": "accuracy", "dag_id": "release", "task_id": "validate", "reason": "baseline_not_met"},
        ),
    ]


def test_trigger_error_is_not_a_decision(stats_recorder: RecordingStatsLogger) -> None:
    with pytest.raises(HokusaiRetryableError):
        sensor(deferrable=True).execute_complete({}, {"status": "error", "reason": "mlflow unreachable"})  # type: ignore[arg-type]

    assert decisions(stats_recorder) == []

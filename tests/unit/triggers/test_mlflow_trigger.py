"""MLflowBaselineTrigger serialization and the sensor's handling of its events."""

from __future__ import annotations

import importlib
import json

import pytest

from airflow_provider_hokusai.exceptions import (
    BaselineNotMetError,
    HokusaiPermanentError,
    HokusaiRetryableError,
    InvalidInputError,
)
from airflow_provider_hokusai.gate.baseline import BaselineCriteria
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor
from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger


def test_serialize_round_trip_with_primitives_only() -> None:
    criteria = BaselineCriteria(
        experiment_name="exp",
        filter_string="tags.candidate = 'true'",
        order_by=["metrics.accuracy DESC"],
        metric_name="accuracy",
        baseline_value=0.9,
        baseline_model_name="m",
        baseline_alias="champion",
        direction="higher_is_better",
        min_improvement=1.5,
        min_improvement_mode="absolute",
    )
    trigger = MLflowBaselineTrigger(criteria=criteria, mlflow_conn_id="my_mlflow", poll_interval=12)
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert set(kwargs) == {"criteria", "mlflow_conn_id", "poll_interval"}

    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert isinstance(rebuilt, MLflowBaselineTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.criteria == criteria
    assert kwargs["criteria"]["order_by"] == ["metrics.accuracy DESC"]
    assert kwargs["criteria"]["baseline_value"] == 0.9
    assert kwargs["mlflow_conn_id"] == "my_mlflow"
    assert kwargs["poll_interval"] == 12.0


def test_trigger_refuses_criteria_the_sensor_would_refuse() -> None:
    with pytest.raises(InvalidInputError) as exc:
        MLflowBaselineTrigger(criteria={"metric_name": "accuracy", "baseline_value": 0.9})
    assert exc.value.fields == ["run_id"]


def sensor() -> MLflowBaselineSensor:
    return MLflowBaselineSensor(task_id="t", run_id="r", metric_name="accuracy", baseline_value=0.9)


EVIDENCE = {
    "run_id": "r",
    "experiment_id": "1",
    "experiment_name": "exp",
    "metric_name": "accuracy",
    "current_value": 0.95,
    "baseline_value": 0.9,
    "baseline_source": "value",
    "direction": "higher_is_better",
    "improvement_percentage": (0.95 - 0.9) / 0.9 * 100,
    "min_improvement": 0.0,
    "passed": True,
}


def test_execute_complete_returns_the_evidence() -> None:
    event = {"status": "success", "evidence": EVIDENCE, "reason": "ok", "error": None}
    assert sensor().execute_complete({}, event) == EVIDENCE


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("baseline_not_met", BaselineNotMetError),
        ("run_failed", BaselineNotMetError),
        ("metric_missing", BaselineNotMetError),
        ("baseline_unavailable", BaselineNotMetError),
        ("invalid_input", BaselineNotMetError),
        ("a kind from a newer trigger", BaselineNotMetError),
    ],
)
def test_execute_complete_raises_the_permanent_error(error: str, expected: type[Exception]) -> None:
    with pytest.raises(expected, match="the reason") as exc:
        sensor().execute_complete({}, {"status": "failed", "error": error, "reason": "the reason"})
    assert isinstance(exc.value, HokusaiPermanentError)


def test_execute_complete_error_event_is_retryable() -> None:
    with pytest.raises(HokusaiRetryableError, match="ConnectionError"):
        sensor().execute_complete({}, {"status": "error", "reason": "ConnectionError: refused"})


class _Info:
    def __init__(self, status: str) -> None:
        self.run_id, self.status, self.experiment_id = "r", status, "1"


class _CountingHook:
    """Just enough of MLflowHook for check_baseline on a run id: counts what it is asked."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.calls: list[str] = []

    def get_run(self, run_id: str) -> object:
        self.calls.append("get_run")
        return type("Run", (), {"info": _Info(self.status)})()

    def find_candidate_run(self, criteria: BaselineCriteria, run: object = None) -> object:
        from airflow_provider_hokusai.gate.baseline import CandidateRun

        self.calls += ["get_experiment"] if run is not None else ["get_run", "get_experiment"]
        return CandidateRun("r", self.status, "1", "exp", 0.95)


@pytest.mark.parametrize("status", ["RUNNING", "SCHEDULED"])
def test_a_look_at_a_running_run_is_one_get(status: str) -> None:
    from airflow_provider_hokusai.gate.check import check_baseline

    hook = _CountingHook(status)
    check = check_baseline(hook, BaselineCriteria(run_id="r", metric_name="accuracy", baseline_value=0.9))  # type: ignore[arg-type]
    assert check.status == "pending"
    assert check.reason == f"run r is {status}"
    assert hook.calls == ["get_run"]


def test_a_look_at_a_finished_run_reads_its_experiment_for_the_evidence() -> None:
    from airflow_provider_hokusai.gate.check import check_baseline

    hook = _CountingHook("FINISHED")
    check = check_baseline(hook, BaselineCriteria(run_id="r", metric_name="accuracy", baseline_value=0.9))  # type: ignore[arg-type]
    assert check.status == "success"
    assert check.evidence is not None and check.evidence.experiment_name == "exp"
    assert hook.calls == ["get_run", "get_experiment"]  # the run is read once


def test_triggers_of_a_process_share_one_hook_per_connection_while_they_run() -> None:
    from airflow_provider_hokusai.triggers import mlflow as module

    with module._shared_hook("a") as first, module._shared_hook("a") as second, module._shared_hook("b") as other:
        assert first is second
        assert other is not first
        assert first.users == 2
    assert "a" not in module._hooks and "b" not in module._hooks
    with module._shared_hook("a") as again:
        assert again is not first  # read anew once no trigger used it

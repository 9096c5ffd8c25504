"""MLflowBaselineTrigger serialization and the sensor's handling of its events."""

from __future__ import annotations

import importlib
import json

import pytest

from airflow_provider_hokusai.exceptions import (
    BaselineNotMetError,
    BaselineUnavailableError,
    HokusaiPermanentError,
    HokusaiRetryableError,
    MetricMissingError,
    RunFailedError,
)
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor
from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger


def test_serialize_round_trip_with_primitives_only() -> None:
    trigger = MLflowBaselineTrigger(
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
        mlflow_conn_id="my_mlflow",
        poll_interval=12,
    )
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs

    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert isinstance(rebuilt, MLflowBaselineTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["order_by"] == ["metrics.accuracy DESC"]
    assert kwargs["poll_interval"] == 12.0


def sensor() -> MLflowBaselineSensor:
    return MLflowBaselineSensor(task_id="t", run_id="r", metric_name="accuracy", baseline_value=0.9)


def test_execute_complete_returns_the_evidence() -> None:
    evidence = {"run_id": "r", "passed": True}
    assert sensor().execute_complete({}, {"status": "success", "evidence": evidence, "reason": "ok"}) == evidence


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("baseline_not_met", BaselineNotMetError),
        ("run_failed", RunFailedError),
        ("metric_missing", MetricMissingError),
        ("baseline_unavailable", BaselineUnavailableError),
        ("invalid_input", HokusaiPermanentError),
    ],
)
def test_execute_complete_raises_the_permanent_error(error: str, expected: type[Exception]) -> None:
    with pytest.raises(expected, match="the reason"):
        sensor().execute_complete({}, {"status": "failed", "error": error, "reason": "the reason"})


def test_execute_complete_error_event_is_retryable() -> None:
    with pytest.raises(HokusaiRetryableError, match="ConnectionError"):
        sensor().execute_complete({}, {"status": "error", "reason": "ConnectionError: refused"})

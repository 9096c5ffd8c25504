"""MLflowBaselineSensor against a real mlflow server (and the embedded sqlite store)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowRescheduleException, TaskDeferred

from airflow_provider_hokusai.exceptions import (
    BaselineNotMetError,
    HokusaiPermanentError,
    InvalidInputError,
)
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor
from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger
from tests.fixtures.mlflow import MLflowServer, create_run, minimal_context, unique

pytestmark = pytest.mark.integration

EVIDENCE_KEYS = {
    "run_id",
    "experiment_id",
    "experiment_name",
    "metric_name",
    "current_value",
    "baseline_value",
    "baseline_source",
    "direction",
    "improvement_percentage",
    "min_improvement",
    "passed",
}


def sensor(**kwargs: Any) -> MLflowBaselineSensor:
    kwargs.setdefault("task_id", "validate")
    kwargs.setdefault("poke_interval", 0.1)
    return MLflowBaselineSensor(**kwargs)


def finish(tracking_uri: str, run_id: str, metrics: dict[str, float], status: str = "FINISHED") -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    client.set_terminated(run_id, status=status)


def test_higher_is_better_passes_with_evidence(mlflow_conn: MLflowServer) -> None:
    experiment = unique("exp")
    run_id = create_run(mlflow_conn.url, experiment, metrics={"accuracy": 0.93})

    evidence = sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9).execute(minimal_context())

    assert set(evidence) == EVIDENCE_KEYS
    assert evidence["run_id"] == run_id
    assert evidence["experiment_name"] == experiment
    assert evidence["current_value"] == 0.93
    assert evidence["baseline_value"] == 0.9
    assert evidence["baseline_source"] == "value"
    assert evidence["direction"] == "higher_is_better"
    assert evidence["improvement_percentage"] == pytest.approx((0.93 - 0.9) / 0.9 * 100)
    assert evidence["passed"] is True


def test_higher_is_better_not_beaten_fails_without_retry(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.85})
    with pytest.raises(BaselineNotMetError, match=r"accuracy=0.85 does not beat baseline 0.9"):
        sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9, retries=3).execute(minimal_context())


def test_lower_is_better_inferred_from_the_metric_name(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"val_rmse": 0.8})
    evidence = sensor(run_id=run_id, metric_name="val_rmse", baseline_value=1.0).execute(minimal_context())
    assert evidence["direction"] == "lower_is_better"
    assert evidence["improvement_percentage"] == pytest.approx(20.0)


def test_lower_is_better_worse_value_fails(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"val_rmse": 1.2})
    with pytest.raises(BaselineNotMetError, match="lower_is_better"):
        sensor(run_id=run_id, metric_name="val_rmse", baseline_value=1.0).execute(minimal_context())


def test_explicit_direction_overrides_inference(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"score": 0.5})
    evidence = sensor(run_id=run_id, metric_name="score", baseline_value=0.6, direction="lower").execute(
        minimal_context()
    )
    assert evidence["direction"] == "lower_is_better"


def test_min_improvement_is_enforced(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.91})
    with pytest.raises(BaselineNotMetError, match="required 5%"):
        sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9, min_improvement=5).execute(minimal_context())


def test_running_run_keeps_waiting_then_passes_when_finished(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.5}, status=None)
    op = sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9)

    assert op.poke(minimal_context()) is False  # RUNNING, even though the interim value is below baseline

    finish(mlflow_conn.url, run_id, {"accuracy": 0.95})
    result = op.poke(minimal_context())
    assert isinstance(result, PokeReturnValue)
    assert result.is_done
    assert result.xcom_value["current_value"] == 0.95


def test_reschedule_mode_reschedules_while_running(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95}, status=None)
    op = sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9, mode="reschedule")

    with pytest.raises(AirflowRescheduleException):
        op.execute(minimal_context())

    finish(mlflow_conn.url, run_id, {})
    assert op.execute(minimal_context())["run_id"] == run_id


@pytest.mark.parametrize("status", ["FAILED", "KILLED"])
def test_failed_or_killed_run_fails_fast(mlflow_conn: MLflowServer, status: str) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.99}, status=status)
    with pytest.raises(BaselineNotMetError, match=status):
        sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9).execute(minimal_context())


def test_missing_metric_fails_fast(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"loss": 0.1})
    with pytest.raises(BaselineNotMetError, match="without metric 'accuracy'"):
        sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9).execute(minimal_context())


def test_non_finite_metric_fails_fast(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": math.nan})
    with pytest.raises(BaselineNotMetError, match="non-finite"):
        sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9).execute(minimal_context())


def test_candidate_picked_from_experiment_by_filter_and_order(mlflow_conn: MLflowServer) -> None:
    experiment = unique("exp")
    wanted = create_run(mlflow_conn.url, experiment, metrics={"accuracy": 0.95}, tags={"candidate": "true"})
    create_run(mlflow_conn.url, experiment, metrics={"accuracy": 0.1}, tags={"candidate": "false"})

    evidence = sensor(
        experiment_name=experiment,
        filter_string="tags.candidate = 'true'",
        metric_name="accuracy",
        baseline_value=0.9,
    ).execute(minimal_context())
    assert evidence["run_id"] == wanted


def test_no_matching_run_yet_keeps_waiting(mlflow_conn: MLflowServer) -> None:
    op = sensor(experiment_name=unique("not-created-yet"), metric_name="accuracy", baseline_value=0.9)
    assert op.poke(minimal_context()) is False


def _champion(server: MLflowServer, value: float) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=server.url)
    name = unique("champion-model")
    run_id = create_run(server.url, unique("exp"), metrics={"accuracy": value})
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(name, "champion", version.version)
    return name


def test_baseline_from_champion_alias(mlflow_conn: MLflowServer) -> None:
    model_name = _champion(mlflow_conn, 0.9)
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95})

    evidence = sensor(
        run_id=run_id, metric_name="accuracy", baseline_model_name=model_name, baseline_alias="champion"
    ).execute(minimal_context())
    assert evidence["baseline_value"] == 0.9
    assert evidence["baseline_source"] == "alias:champion"

    loser = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.89})
    with pytest.raises(BaselineNotMetError):
        sensor(run_id=loser, metric_name="accuracy", baseline_model_name=model_name, baseline_alias="champion").execute(
            minimal_context()
        )


def test_missing_alias_falls_back_to_value_or_fails(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95})
    missing = {"baseline_model_name": unique("no-such-model"), "baseline_alias": "champion"}

    evidence = sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.5, **missing).execute(minimal_context())
    assert (evidence["baseline_value"], evidence["baseline_source"]) == (0.5, "value")

    with pytest.raises(BaselineNotMetError, match="no baseline"):
        sensor(run_id=run_id, metric_name="accuracy", **missing).execute(minimal_context())


def test_deferrable_defers_while_running_and_completes_from_event(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95}, status=None)
    op = sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9, deferrable=True, poke_interval=7)

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(minimal_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, MLflowBaselineTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert trigger.serialize()[1]["criteria"]["run_id"] == run_id
    assert trigger.poll_interval == 7


def test_deferrable_finished_run_needs_no_trigger(mlflow_conn: MLflowServer) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95})
    op = sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9, deferrable=True)
    assert op.execute(minimal_context())["passed"] is True

    failed = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95}, status="FAILED")
    with pytest.raises(BaselineNotMetError):
        sensor(run_id=failed, metric_name="accuracy", baseline_value=0.9, deferrable=True).execute(minimal_context())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metric_name": "accuracy", "baseline_value": 0.9}, "run_id"),
        ({"metric_name": "accuracy", "run_id": "r", "experiment_name": "e", "baseline_value": 0.9}, "run_id"),
        ({"metric_name": "", "run_id": "r", "baseline_value": 0.9}, "metric_name"),
        ({"metric_name": "accuracy", "run_id": "r"}, "baseline_value"),
        ({"metric_name": "accuracy", "run_id": "r", "baseline_value": "high"}, "baseline_value"),
        ({"metric_name": "accuracy", "run_id": "r", "baseline_alias": "champion"}, "baseline_alias"),
    ],
)
def test_bad_inputs_are_rejected_before_any_query(kwargs: dict[str, Any], field: str) -> None:
    # No connection is configured here: a query would fail differently.
    with pytest.raises(InvalidInputError) as exc:
        sensor(**kwargs).poke(minimal_context())
    assert field in exc.value.fields
    assert isinstance(exc.value, HokusaiPermanentError)


def test_embedded_sqlite_store(mlflow_embedded_conn: str) -> None:
    run_id = create_run(mlflow_embedded_conn, unique("exp"), metrics={"log_loss": 0.3})
    evidence = sensor(run_id=run_id, metric_name="log_loss", baseline_value=0.4).execute(minimal_context())
    assert evidence["direction"] == "lower_is_better"
    assert evidence["improvement_percentage"] == pytest.approx(25.0)

    running = create_run(mlflow_embedded_conn, unique("exp"), metrics={"log_loss": 0.3}, status=None)
    assert sensor(run_id=running, metric_name="log_loss", baseline_value=0.4).poke(minimal_context()) is False


def test_values_that_cannot_be_compared_fail_as_invalid_input(mlflow_conn: MLflowServer) -> None:
    from airflow_provider_hokusai.exceptions import BaselineNotMetError

    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.0})
    with pytest.raises(BaselineNotMetError, match="current_value"):
        sensor(run_id=run_id, metric_name="accuracy", baseline_value=0.9).execute(minimal_context())

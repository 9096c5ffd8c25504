from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_hokusai.exceptions import (
    BaselineNotMetError,
    HokusaiPermanentError,
    InvalidInputError,
)
from airflow_provider_hokusai.gate.baseline import (
    DEFAULT_ORDER_BY,
    BaselineCriteria,
    CandidateRun,
    Direction,
    FailureKind,
    MinImprovementMode,
    compare,
    decide,
    infer_direction,
)
from airflow_provider_hokusai.utils.validation import validate


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("accuracy", Direction.HIGHER_IS_BETTER),
        ("val_auroc", Direction.HIGHER_IS_BETTER),
        ("f1", Direction.HIGHER_IS_BETTER),
        ("r2", Direction.HIGHER_IS_BETTER),
        ("mse", Direction.LOWER_IS_BETTER),
        ("test_rmse", Direction.LOWER_IS_BETTER),
        ("MAE", Direction.LOWER_IS_BETTER),
        ("log_loss", Direction.LOWER_IS_BETTER),
        ("val-loss", Direction.LOWER_IS_BETTER),
        ("reconstruction_error", Direction.LOWER_IS_BETTER),
    ],
)
def test_infer_direction(name: str, direction: Direction) -> None:
    assert infer_direction(name) is direction


def test_higher_is_better() -> None:
    result = compare("accuracy", 0.9, 0.8)
    assert result.passed
    assert result.direction is Direction.HIGHER_IS_BETTER
    assert result.improvement_percentage == pytest.approx(12.5)
    assert not compare("accuracy", 0.8, 0.8).passed
    assert not compare("accuracy", 0.7, 0.8).passed


def test_lower_is_better() -> None:
    result = compare("rmse", 0.75, 1.0)
    assert result.passed and result.improvement_percentage == pytest.approx(25.0)
    worse = compare("rmse", 1.25, 1.0)
    assert not worse.passed and worse.improvement_percentage == pytest.approx(-25.0)
    assert "does not beat" in worse.reason


def test_explicit_direction_wins() -> None:
    assert compare("accuracy", 0.7, 0.8, direction="lower").passed
    assert compare("rmse", 1.1, 1.0, direction=Direction.HIGHER_IS_BETTER).passed


def test_min_improvement_relative_and_absolute() -> None:
    assert compare("accuracy", 0.85, 0.8, min_improvement=5).passed  # 6.25 %
    assert not compare("accuracy", 0.85, 0.8, min_improvement=10).passed
    assert compare("accuracy", 0.85, 0.8, min_improvement=0.05, min_improvement_mode="absolute").passed
    assert not compare("accuracy", 0.85, 0.8, min_improvement=0.06, min_improvement_mode="absolute").passed
    assert compare("mse", 0.5, 0.6, min_improvement=0.1, min_improvement_mode=MinImprovementMode.ABSOLUTE).passed


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"current_value": math.nan}, {"current_value"}),
        ({"baseline_value": math.inf}, {"baseline_value"}),
        ({"baseline_value": 0.0}, {"baseline_value"}),
        ({"current_value": -1.0, "baseline_value": -1.0}, {"current_value", "baseline_value"}),
        ({"current_value": "high"}, {"current_value"}),
        ({"min_improvement": -1}, {"min_improvement"}),
        ({"direction": "sideways"}, {"direction"}),
        ({"min_improvement_mode": "percent"}, {"min_improvement_mode"}),
        ({"metric_name": " "}, {"metric_name"}),
    ],
)
def test_invalid_input_names_each_field(kwargs: dict[str, object], fields: set[str]) -> None:
    args: dict[str, object] = {"metric_name": "accuracy", "current_value": 0.9, "baseline_value": 0.8}
    args.update(kwargs)
    with pytest.raises(InvalidInputError) as info:
        compare(**args)  # type: ignore[arg-type]
    assert set(info.value.fields) == fields


def test_to_dict_is_json_ready() -> None:
    data = compare("accuracy", 0.9, 0.8).to_dict()
    assert data["direction"] == "higher_is_better" and data["min_improvement_mode"] == "relative"
    assert data["passed"] is True


@given(
    baseline=st.floats(min_value=1e-6, max_value=1e6),
    factor=st.floats(min_value=1e-3, max_value=1e3),
    direction=st.sampled_from(list(Direction)),
)
def test_passed_iff_strictly_better(baseline: float, factor: float, direction: Direction) -> None:
    current = baseline * factor
    result = compare("m", current, baseline, direction=direction)
    better = current > baseline if direction is Direction.HIGHER_IS_BETTER else current < baseline
    assert result.passed is better
    assert (result.improvement_percentage > 0) is better


# ------------------------------------------------------------------------------- the gate's decision, pure


def criteria(**overrides: Any) -> BaselineCriteria:
    return BaselineCriteria(**{"metric_name": "accuracy", "run_id": "r1", "baseline_value": 0.9, **overrides})


def run(status: str = "FINISHED", value: float | None = 0.93) -> CandidateRun:
    return CandidateRun(run_id="r1", status=status, experiment_id="7", experiment_name="exp", metric_value=value)


def test_decide_success_builds_the_evidence() -> None:
    check = decide(criteria(), run())
    assert (check.status, check.failure) == ("success", None)
    assert check.reason.startswith("run r1: accuracy=0.93 beats baseline 0.9")
    assert check.evidence is not None
    assert check.evidence.model_dump(mode="json") == {
        "run_id": "r1",
        "experiment_id": "7",
        "experiment_name": "exp",
        "metric_name": "accuracy",
        "current_value": 0.93,
        "baseline_value": 0.9,
        "baseline_source": "value",
        "direction": "higher_is_better",
        "improvement_percentage": pytest.approx((0.93 - 0.9) / 0.9 * 100),
        "min_improvement": 0.0,
        "passed": True,
    }
    event = check.event()
    assert json.loads(json.dumps(event)) == event
    assert (event["status"], event["error"]) == ("success", None)


@pytest.mark.parametrize(
    ("candidate", "status", "failure", "reason"),
    [
        (None, "pending", None, "no run yet in experiment None matching the filter"),
        (run("RUNNING", 0.5), "pending", None, "run r1 is RUNNING"),
        (run("SCHEDULED", None), "pending", None, "run r1 is SCHEDULED"),
        (run("SOMETHING_NEW"), "pending", None, "run r1 is in state SOMETHING_NEW"),
        (run("FAILED", 0.99), "failed", FailureKind.RUN_FAILED, "run r1 ended FAILED"),
        (run("KILLED", 0.99), "failed", FailureKind.RUN_FAILED, "run r1 ended KILLED"),
        (run(value=None), "failed", FailureKind.METRIC_MISSING, "run r1 finished without metric 'accuracy'"),
        (run(value=math.nan), "failed", FailureKind.METRIC_MISSING, "run r1 finished with non-finite accuracy=nan"),
        (run(value=math.inf), "failed", FailureKind.METRIC_MISSING, "run r1 finished with non-finite accuracy=inf"),
        (run(value=0.85), "failed", FailureKind.BASELINE_NOT_MET, "run r1: accuracy=0.85 does not beat baseline 0.9"),
    ],
)
def test_decide_outcomes(candidate: CandidateRun | None, status: str, failure: FailureKind | None, reason: str) -> None:
    check = decide(criteria(), candidate, alias_baseline=0.1)  # ignored: no alias asked
    assert (check.status, check.failure, check.evidence) == (status, failure, None)
    assert check.reason.startswith(reason)


def test_decide_names_the_experiment_while_no_run_exists() -> None:
    check = decide(criteria(run_id=None, experiment_name="exp"), None)
    assert check.reason == "no run yet in experiment 'exp' matching the filter"


def test_decide_champion_alias_then_fallback_value_then_unavailable() -> None:
    alias = {"baseline_model_name": "m", "baseline_alias": "champion"}
    won = decide(criteria(**alias), run(), alias_baseline=0.92)
    assert won.evidence is not None
    assert (won.evidence.baseline_value, won.evidence.baseline_source) == (0.92, "alias:champion")
    lost = decide(criteria(**alias), run(), alias_baseline=0.95)
    assert lost.failure is FailureKind.BASELINE_NOT_MET
    fallback = decide(criteria(**alias), run(), alias_baseline=None)
    assert fallback.evidence is not None
    assert (fallback.evidence.baseline_value, fallback.evidence.baseline_source) == (0.9, "value")
    none = decide(criteria(baseline_value=None, **alias), run(), alias_baseline=None)
    assert none.failure is FailureKind.BASELINE_UNAVAILABLE
    assert none.reason == (
        "no baseline: m@champion does not exist or has no metric 'accuracy', and no baseline_value is set"
    )


@pytest.mark.parametrize(
    ("overrides", "value"),
    [
        ({"direction": "sideways"}, 0.93),
        ({"min_improvement": -1}, 0.93),
        ({"min_improvement_mode": "pct"}, 0.93),
        ({}, 0.0),
        ({}, -0.5),
        ({"baseline_value": 0}, 0.93),
    ],
)
def test_values_that_cannot_be_compared_are_invalid_input(overrides: dict[str, Any], value: float) -> None:
    check = decide(criteria(**overrides), run(value=value))
    assert (check.status, check.failure) == ("failed", FailureKind.INVALID_INPUT)
    assert "invalid baseline comparison input" in check.reason


def test_min_improvement_and_direction_reach_compare() -> None:
    assert decide(criteria(min_improvement=5), run(value=0.91)).failure is FailureKind.BASELINE_NOT_MET
    absolute = criteria(min_improvement="0.02", min_improvement_mode="absolute")
    assert decide(absolute, run(value=0.93)).status == "success"
    lower = decide(criteria(direction="lower"), run(value=0.8))
    assert lower.evidence is not None and lower.evidence.direction is Direction.LOWER_IS_BETTER


def test_every_failure_kind_fails_the_task_with_its_kind() -> None:
    for kind in FailureKind:
        error = kind.error("why")
        assert type(error) is BaselineNotMetError and str(error) == "why" and error.kind == kind.value
        assert isinstance(error, HokusaiPermanentError)


def test_criteria_from_rendered_templates() -> None:
    rendered = criteria(
        baseline_value="0.9", min_improvement="", filter_string="", experiment_name="", direction="", order_by=[]
    )
    assert rendered.baseline_value == 0.9
    assert rendered.min_improvement == 0.0
    assert (rendered.filter_string, rendered.experiment_name, rendered.direction) == (None, None, None)
    assert rendered.order_by == DEFAULT_ORDER_BY
    assert BaselineCriteria.model_validate(rendered.model_dump(mode="json")) == rendered


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"run_id": None}, ["run_id"]),
        ({"experiment_name": "e"}, ["run_id"]),
        ({"metric_name": " "}, ["metric_name"]),
        ({"metric_name": None}, ["metric_name"]),
        ({"baseline_value": None}, ["baseline_value"]),
        ({"baseline_value": "high"}, ["baseline_value"]),
        ({"baseline_value": True}, ["baseline_value"]),
        ({"min_improvement": "lots"}, ["min_improvement"]),
        ({"baseline_model_name": "m"}, ["baseline_alias"]),
        ({"baseline_value": None, "baseline_model_name": "m", "baseline_alias": "champion"}, []),
        ({"run_id": "", "metric_name": "", "baseline_value": "x"}, ["metric_name", "run_id", "baseline_value"]),
    ],
)
def test_criteria_name_every_bad_field(overrides: dict[str, Any], fields: list[str]) -> None:
    data = {"metric_name": "accuracy", "run_id": "r1", "baseline_value": 0.9, **overrides}
    if not fields:
        assert (
            validate(BaselineCriteria, data, InvalidInputError, subject="baseline comparison input").baseline_alias
            == "champion"
        )
        return
    with pytest.raises(InvalidInputError) as exc:
        validate(BaselineCriteria, data, InvalidInputError, subject="baseline comparison input")
    assert exc.value.fields == fields

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_hokusai.baseline import Direction, MinImprovementMode, compare, infer_direction
from airflow_provider_hokusai.exceptions import InvalidBaselineInput


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
    with pytest.raises(InvalidBaselineInput) as info:
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

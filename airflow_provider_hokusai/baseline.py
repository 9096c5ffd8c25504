"""Pure, direction-aware comparison of a candidate metric against its baseline.

The sensor decides with it and the publisher re-checks with it, so both always agree on what "beats the
baseline" means and on the improvement percentage that ends up in the ``model_ready_to_deploy`` message.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from airflow_provider_hokusai.exceptions import InvalidBaselineInput


class Direction(StrEnum):
    """Which way a metric improves."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"

    @classmethod
    def parse(cls, value: str | Direction) -> Direction:
        """Accept the enum, its value, or the short forms ``higher``/``lower``/``max``/``min``."""
        if isinstance(value, Direction):
            return value
        normalized = str(value).strip().lower().replace("-", "_")
        aliases = {
            "higher": cls.HIGHER_IS_BETTER,
            "max": cls.HIGHER_IS_BETTER,
            "maximize": cls.HIGHER_IS_BETTER,
            "lower": cls.LOWER_IS_BETTER,
            "min": cls.LOWER_IS_BETTER,
            "minimize": cls.LOWER_IS_BETTER,
        }
        if normalized in aliases:
            return aliases[normalized]
        try:
            return cls(normalized)
        except ValueError:
            raise InvalidBaselineInput(
                [("direction", f"must be one of {[d.value for d in cls]} (or higher/lower), got {value!r}")]
            ) from None


class MinImprovementMode(StrEnum):
    """How ``min_improvement`` is read: percent of the baseline, or metric units."""

    RELATIVE = "relative"
    ABSOLUTE = "absolute"


# Exact names (after normalisation) of metrics that improve downwards; anything ending in "loss" or "error"
# is lower-is-better too. Everything else (accuracy, auroc, f1, precision, recall, r2, ...) improves upwards.
LOWER_IS_BETTER_METRICS = frozenset(
    {
        "mse",
        "rmse",
        "mae",
        "mape",
        "smape",
        "msle",
        "rmsle",
        "log_loss",
        "logloss",
        "perplexity",
        "brier",
        "wer",
    }
)
_LOWER_SUFFIXES = ("loss", "error")


def infer_direction(metric_name: str) -> Direction:
    """Infer the improvement direction from a metric name (``val_rmse`` → lower, ``test_auroc`` → higher)."""
    name = metric_name.strip().lower().replace("-", "_").replace(" ", "_")
    last = name.rsplit("_", 1)[-1]
    if name in LOWER_IS_BETTER_METRICS or last in LOWER_IS_BETTER_METRICS or name.endswith(_LOWER_SUFFIXES):
        return Direction.LOWER_IS_BETTER
    return Direction.HIGHER_IS_BETTER


@dataclass(frozen=True)
class BaselineComparison:
    """The outcome of one comparison; JSON-serializable through :meth:`to_dict`."""

    metric_name: str
    current_value: float
    baseline_value: float
    direction: Direction
    improvement_percentage: float
    min_improvement: float
    min_improvement_mode: MinImprovementMode
    passed: bool

    @property
    def reason(self) -> str:
        verb = "beats" if self.passed else "does not beat"
        rule = ""
        if self.min_improvement:
            unit = "%" if self.min_improvement_mode is MinImprovementMode.RELATIVE else " (absolute)"
            rule = f" by the required {self.min_improvement:g}{unit}"
        return (
            f"{self.metric_name}={self.current_value:g} {verb} baseline {self.baseline_value:g}{rule} "
            f"({self.direction.value}, improvement {self.improvement_percentage:.4g}%)"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["direction"] = self.direction.value
        data["min_improvement_mode"] = self.min_improvement_mode.value
        return data


def _check_value(field: str, value: Any, errors: list[tuple[str, str]], *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            errors.append((field, f"must be a number, got {value!r}"))
            return math.nan
    value = float(value)
    if not math.isfinite(value):
        errors.append((field, f"must be finite, got {value!r}"))
    elif positive and value <= 0:
        errors.append((field, f"must be > 0, got {value!r}"))
    elif not positive and value < 0:
        errors.append((field, f"must be >= 0, got {value!r}"))
    return value


def improvement_percentage(current: float, baseline: float, direction: Direction) -> float:
    """Improvement of ``current`` over ``baseline`` in percent of the baseline, positive when better."""
    delta = current - baseline if direction is Direction.HIGHER_IS_BETTER else baseline - current
    return delta / baseline * 100.0


def compare(
    metric_name: str,
    current_value: float,
    baseline_value: float,
    *,
    direction: str | Direction | None = None,
    min_improvement: float = 0.0,
    min_improvement_mode: str | MinImprovementMode = MinImprovementMode.RELATIVE,
) -> BaselineComparison:
    """
    Compare a candidate's metric with its baseline.

    The candidate passes when it is strictly better than the baseline and, if ``min_improvement`` is set, better
    by at least that much: percent of the baseline in ``relative`` mode, metric units in ``absolute`` mode.

    :param metric_name: Name of the metric; used to infer the direction when none is given.
    :param current_value: The candidate's value; finite and > 0.
    :param baseline_value: The value to beat; finite and > 0.
    :param direction: ``higher_is_better`` / ``lower_is_better`` (or ``higher`` / ``lower``); inferred if None.
    :param min_improvement: Minimum improvement required, >= 0.
    :param min_improvement_mode: ``relative`` (percent) or ``absolute`` (metric units).
    :raises InvalidBaselineInput: naming every value that breaks a rule.
    """
    errors: list[tuple[str, str]] = []
    if not isinstance(metric_name, str) or not metric_name.strip():
        errors.append(("metric_name", "must be a non-empty string"))
    current = _check_value("current_value", current_value, errors, positive=True)
    baseline = _check_value("baseline_value", baseline_value, errors, positive=True)
    minimum = _check_value("min_improvement", min_improvement, errors, positive=False)
    try:
        mode = MinImprovementMode(min_improvement_mode)
    except ValueError:
        errors.append(("min_improvement_mode", f"must be 'relative' or 'absolute', got {min_improvement_mode!r}"))
    resolved: Direction | None = None
    if direction is not None:
        try:
            resolved = Direction.parse(direction)
        except InvalidBaselineInput as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidBaselineInput(errors)
    if resolved is None:
        resolved = infer_direction(metric_name)

    pct = improvement_percentage(current, baseline, resolved)
    gain = current - baseline if resolved is Direction.HIGHER_IS_BETTER else baseline - current
    achieved = pct if mode is MinImprovementMode.RELATIVE else gain
    # 0.85 - 0.8 is 0.04999...: a threshold met exactly on paper must pass despite float rounding.
    meets_minimum = achieved > minimum or math.isclose(achieved, minimum, rel_tol=1e-9, abs_tol=1e-12)
    return BaselineComparison(
        metric_name=metric_name,
        current_value=current,
        baseline_value=baseline,
        direction=resolved,
        improvement_percentage=pct,
        min_improvement=minimum,
        min_improvement_mode=mode,
        passed=gain > 0 and pct > 0 and meets_minimum,
    )

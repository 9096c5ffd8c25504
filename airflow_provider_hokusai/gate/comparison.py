"""How a candidate's metric compares with its baseline, pure: direction, minimum improvement, improvement percentage.

One definition of "beats the baseline" for the gate (:mod:`airflow_provider_hokusai.gate.baseline`), registration
and the announcement, so all agree on it and on the improvement percentage announced.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from airflow_provider_hokusai.exceptions import InvalidInputError
from airflow_provider_hokusai.utils.validation import validate

__all__ = [
    "BaselineComparison",
    "Direction",
    "MinImprovementMode",
    "Name",
    "Positive",
    "Text",
    "compare",
    "infer_direction",
    "parse_direction",
    "parse_number",
]


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
        higher, lower = cls.HIGHER_IS_BETTER, cls.LOWER_IS_BETTER
        aliases = {"higher": higher, "max": higher, "maximize": higher, "lower": lower, "min": lower, "minimize": lower}
        if normalized in aliases:
            return aliases[normalized]
        try:
            return cls(normalized)
        except ValueError:
            raise InvalidInputError(
                [("direction", f"must be one of {[d.value for d in cls]} (or higher/lower), got {value!r}")],
                subject="baseline comparison input",
            ) from None


class MinImprovementMode(StrEnum):
    """How ``min_improvement`` is read: percent of the baseline, or metric units."""

    RELATIVE = "relative"
    ABSOLUTE = "absolute"


# Exact names (after normalisation) of metrics that improve downwards; anything ending in "loss" or "error"
# is lower-is-better too. Everything else (accuracy, auroc, f1, precision, recall, r2, ...) improves upwards.
_LOWER_IS_BETTER_METRICS = frozenset(
    {"mse", "rmse", "mae", "mape", "smape", "msle", "rmsle", "log_loss", "logloss", "perplexity", "brier", "wer"}
)
_LOWER_SUFFIXES = ("loss", "error")


def infer_direction(metric_name: str) -> Direction:
    """Infer the improvement direction from a metric name (``val_rmse`` → lower, ``test_auroc`` → higher)."""
    name = metric_name.strip().lower().replace("-", "_").replace(" ", "_")
    last = name.rsplit("_", 1)[-1]
    if name in _LOWER_IS_BETTER_METRICS or last in _LOWER_IS_BETTER_METRICS or name.endswith(_LOWER_SUFFIXES):
        return Direction.LOWER_IS_BETTER
    return Direction.HIGHER_IS_BETTER


def parse_number(value: Any) -> Any:
    # Templated numbers arrive as strings, "" meaning not given; a bool is no number even though Python says so.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return None if value == "" else value


def _text(value: Any) -> Any:
    # An empty rendered template means "not given"; enums (Direction...) are kept as their value.
    return None if value in ("", None) else str(value)


def parse_direction(value: Any) -> Direction | None:
    try:
        return None if value in ("", None) else Direction.parse(value)
    except InvalidInputError as exc:
        raise ValueError(exc.errors[0].rule) from None


Text = Annotated[str | None, BeforeValidator(_text)]
Positive = Annotated[float, BeforeValidator(parse_number), Field(gt=0, allow_inf_nan=False)]
Name = Annotated[str, Field(pattern=r"\S")]  # not blank


class _Comparable(BaseModel):
    """:func:`compare`'s arguments; a failure becomes InvalidInputError naming every field."""

    model_config = ConfigDict(defer_build=True)  # built on first use, not when a DAG file imports the operators

    metric_name: Name
    current_value: Positive
    baseline_value: Positive
    direction: Annotated[Direction | None, BeforeValidator(parse_direction)] = None
    min_improvement: Annotated[float, BeforeValidator(parse_number), Field(ge=0, allow_inf_nan=False)] = 0.0
    min_improvement_mode: MinImprovementMode = MinImprovementMode.RELATIVE


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
        enums = {"direction": self.direction.value, "min_improvement_mode": self.min_improvement_mode.value}
        return asdict(self) | enums


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
    :raises InvalidInputError: naming every value that breaks a rule.
    """
    args = {"metric_name": metric_name, "current_value": current_value, "baseline_value": baseline_value}
    args |= {"direction": direction, "min_improvement": min_improvement, "min_improvement_mode": min_improvement_mode}
    c = validate(_Comparable, args, InvalidInputError, subject="baseline comparison input")
    resolved = c.direction or infer_direction(c.metric_name)
    higher = resolved is Direction.HIGHER_IS_BETTER
    gain = c.current_value - c.baseline_value if higher else c.baseline_value - c.current_value
    pct = gain / c.baseline_value * 100.0
    achieved = pct if c.min_improvement_mode is MinImprovementMode.RELATIVE else gain
    # 0.85 - 0.8 is 0.04999...: a threshold met exactly on paper must pass despite float rounding.
    meets_minimum = achieved > c.min_improvement or math.isclose(
        achieved, c.min_improvement, rel_tol=1e-9, abs_tol=1e-12
    )
    passed = gain > 0 and pct > 0 and meets_minimum
    return BaselineComparison(**{**dict(c), "direction": resolved, "improvement_percentage": pct, "passed": passed})

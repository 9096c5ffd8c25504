"""The baseline gate's decisions, pure: no I/O, nothing from Airflow but the exceptions.

The sensor decides with :func:`decide` (through :func:`compare`), registration and the publisher re-check with
:func:`compare`, so all agree on what "beats the baseline" means and on the improvement percentage announced.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from airflow_provider_hokusai import exceptions as errors
from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidInputError
from airflow_provider_hokusai.utils.validation import validate


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
LOWER_IS_BETTER_METRICS = frozenset(
    {"mse", "rmse", "mae", "mape", "smape", "msle", "rmsle", "log_loss", "logloss", "perplexity", "brier", "wer"}
)
_LOWER_SUFFIXES = ("loss", "error")


def infer_direction(metric_name: str) -> Direction:
    """Infer the improvement direction from a metric name (``val_rmse`` → lower, ``test_auroc`` → higher)."""
    name = metric_name.strip().lower().replace("-", "_").replace(" ", "_")
    last = name.rsplit("_", 1)[-1]
    if name in LOWER_IS_BETTER_METRICS or last in LOWER_IS_BETTER_METRICS or name.endswith(_LOWER_SUFFIXES):
        return Direction.LOWER_IS_BETTER
    return Direction.HIGHER_IS_BETTER


def _number(value: Any) -> Any:
    # Templated numbers arrive as strings, "" meaning not given; a bool is no number even though Python says so.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return None if value == "" else value


def _text(value: Any) -> Any:
    # An empty rendered template means "not given"; enums (Direction...) are kept as their value.
    return None if value in ("", None) else str(value)


def _direction(value: Any) -> Direction | None:
    try:
        return None if value in ("", None) else Direction.parse(value)
    except InvalidInputError as exc:
        raise ValueError(exc.errors[0].rule) from None


Text = Annotated[str | None, BeforeValidator(_text)]
Positive = Annotated[float, BeforeValidator(_number), Field(gt=0, allow_inf_nan=False)]
Name = Annotated[str, Field(pattern=r"\S")]  # not blank


class _Comparable(BaseModel):
    """:func:`compare`'s arguments; a failure becomes InvalidInputError naming every field."""

    metric_name: Name
    current_value: Positive
    baseline_value: Positive
    direction: Annotated[Direction | None, BeforeValidator(_direction)] = None
    min_improvement: Annotated[float, BeforeValidator(_number), Field(ge=0, allow_inf_nan=False)] = 0.0
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


#: Run states in which the candidate may still produce its metric, and those that end its candidacy.
PENDING_RUN_STATES = frozenset({"RUNNING", "SCHEDULED"})
FAILED_RUN_STATES = frozenset({"FAILED", "KILLED"})
DEFAULT_ORDER_BY = ("attributes.start_time DESC",)


class FailureKind(StrEnum):
    """A permanent outcome of the gate; the value is the trigger event's ``error`` and the metric's ``reason`` tag."""

    BASELINE_NOT_MET = "baseline_not_met"
    RUN_FAILED = "run_failed"
    METRIC_MISSING = "metric_missing"
    BASELINE_UNAVAILABLE = "baseline_unavailable"
    INVALID_INPUT = "invalid_input"

    def error(self, reason: str) -> HokusaiPermanentError:
        """The exception that fails the task for this outcome; permanent, as a retry would decide the same."""
        return errors.BaselineNotMetError(reason, kind=self.value)


class BaselineCriteria(BaseModel):
    """
    What the gate is asked: the sensor's rendered arguments (see ``MLflowBaselineSensor``). ``direction`` and the
    threshold are checked by :func:`compare` when the run is decided; rules that span fields read the fields
    declared before them, hence the order.
    """

    model_config = ConfigDict(frozen=True, validate_default=True)

    metric_name: Name
    experiment_name: Text = None
    run_id: Text = None
    filter_string: Text = None
    order_by: Annotated[tuple[str, ...], BeforeValidator(lambda v: v or DEFAULT_ORDER_BY)] = DEFAULT_ORDER_BY
    baseline_model_name: Text = None
    baseline_alias: Text = None
    baseline_value: Annotated[float | None, BeforeValidator(_number)] = None
    direction: Text = None
    min_improvement: Annotated[float, BeforeValidator(lambda v: _number(v) or 0.0)] = 0.0
    min_improvement_mode: Annotated[str, BeforeValidator(str)] = MinImprovementMode.RELATIVE.value

    @field_validator("run_id")
    @classmethod
    def _one_candidate(cls, value: str | None, info: ValidationInfo) -> str | None:
        if bool(value) == bool(info.data.get("experiment_name")):
            raise ValueError("give exactly one of run_id or experiment_name")
        return value

    @field_validator("baseline_alias")
    @classmethod
    def _alias_of_a_model(cls, value: str | None, info: ValidationInfo) -> str | None:
        if bool(value) != bool(info.data.get("baseline_model_name")):
            raise ValueError("baseline_alias and baseline_model_name go together")
        return value

    @field_validator("baseline_value")
    @classmethod
    def _some_baseline(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None and not info.data.get("baseline_alias"):
            raise ValueError("give baseline_value, or baseline_model_name + baseline_alias")
        return value


class BaselineEvidence(BaseModel):
    """
    Why a candidate passed: the one definition of the evidence keys (sensor XCom, trigger event, registration input
    and output). The gate fills every key; registration needs those it rebuilds the comparison from, and ``passed``.
    """

    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)

    run_id: str
    experiment_id: str | None = None
    experiment_name: str | None = None
    metric_name: Name
    current_value: Positive
    baseline_value: Positive
    baseline_source: str | None = None
    direction: Annotated[Direction | None, BeforeValidator(_direction)] = None
    improvement_percentage: float | None = None
    min_improvement: Annotated[float | None, BeforeValidator(_number)] = None
    passed: Literal[True]


@dataclass(frozen=True)
class CandidateRun:
    """What the hook read of the candidate run: enough to decide, nothing MLflow-specific."""

    run_id: str
    status: str
    experiment_id: str
    experiment_name: str | None = None
    metric_value: float | None = None


@dataclass(frozen=True)
class BaselineCheck:
    """One look at the candidate: ``pending`` (keep waiting), ``success`` (with evidence) or ``failed`` (with kind)."""

    status: Literal["pending", "success", "failed"]
    reason: str
    evidence: BaselineEvidence | None = None
    failure: FailureKind | None = None

    def event(self) -> dict[str, Any]:
        """The check as primitives, for a trigger event: ``status``, ``reason``, ``error`` and ``evidence``."""
        evidence = self.evidence.model_dump(mode="json") if self.evidence else None
        error = self.failure.value if self.failure else None
        return {"status": self.status, "reason": self.reason, "error": error, "evidence": evidence}


def run_outcome(criteria: BaselineCriteria, candidate: CandidateRun | None) -> BaselineCheck | None:
    """What the run alone decides (wait, or fail); None when it finished with a usable metric."""
    if candidate is None:
        return BaselineCheck("pending", f"no run yet in experiment {criteria.experiment_name!r} matching the filter")
    run_id, status, value = candidate.run_id, candidate.status, candidate.metric_value
    if status in PENDING_RUN_STATES:
        return BaselineCheck("pending", f"run {run_id} is {status}")
    if status in FAILED_RUN_STATES:
        return BaselineCheck("failed", f"run {run_id} ended {status}", failure=FailureKind.RUN_FAILED)
    if status != "FINISHED":
        return BaselineCheck("pending", f"run {run_id} is in state {status}")
    if value is None:
        reason = f"run {run_id} finished without metric {criteria.metric_name!r}"
        return BaselineCheck("failed", reason, failure=FailureKind.METRIC_MISSING)
    if not math.isfinite(value):
        reason = f"run {run_id} finished with non-finite {criteria.metric_name}={value!r}"
        return BaselineCheck("failed", reason, failure=FailureKind.METRIC_MISSING)
    return None


def decide(
    criteria: BaselineCriteria, candidate: CandidateRun | None, alias_baseline: float | None = None
) -> BaselineCheck:
    """
    The gate's decision on one look at the candidate.

    :param criteria: What the gate is asked.
    :param candidate: The candidate run as read, or None when no run exists yet.
    :param alias_baseline: The metric of ``baseline_model_name@baseline_alias``; None when the alias does not exist
        or has no such metric, and the baseline falls back to ``baseline_value``.
    """
    early = run_outcome(criteria, candidate)
    if early is not None:
        return early
    assert candidate is not None and candidate.metric_value is not None  # run_outcome waits or fails otherwise
    baseline, source = alias_baseline, f"alias:{criteria.baseline_alias}"
    if not criteria.baseline_alias or baseline is None:
        baseline, source = criteria.baseline_value, "value"
    if baseline is None:
        reason = (
            f"no baseline: {criteria.baseline_model_name}@{criteria.baseline_alias} does not exist or has no "
            f"metric {criteria.metric_name!r}, and no baseline_value is set"
        )
        return BaselineCheck("failed", reason, failure=FailureKind.BASELINE_UNAVAILABLE)
    try:
        rule = criteria.model_dump(include={"direction", "min_improvement", "min_improvement_mode"})
        comparison = compare(criteria.metric_name, candidate.metric_value, baseline, **rule)
    except InvalidInputError as exc:
        return BaselineCheck("failed", str(exc), failure=FailureKind.INVALID_INPUT)
    reason = f"run {candidate.run_id}: {comparison.reason}"
    if not comparison.passed:
        return BaselineCheck("failed", reason, failure=FailureKind.BASELINE_NOT_MET)
    run = {"run_id": candidate.run_id, "experiment_id": candidate.experiment_id, "baseline_source": source}
    found = {**comparison.to_dict(), **run, "experiment_name": candidate.experiment_name}
    evidence = BaselineEvidence.model_validate(found)
    return BaselineCheck("success", reason, evidence=evidence)

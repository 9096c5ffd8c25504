"""The baseline gate's decisions, pure: no I/O, nothing from Airflow but the exceptions.

The sensor and the trigger decide with :func:`decide`, which compares through
:func:`~airflow_provider_hokusai.gate.comparison.compare`, as registration and the announcement do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator

from airflow_provider_hokusai import exceptions as errors
from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidInputError
from airflow_provider_hokusai.gate.comparison import (
    Direction,
    MinImprovementMode,
    Name,
    Positive,
    Text,
    compare,
    infer_direction,
    parse_direction,
    parse_number,
)

__all__ = [
    "DEFAULT_ORDER_BY",
    "PENDING_RUN_STATES",
    "BaselineCheck",
    "BaselineCriteria",
    "BaselineEvidence",
    "CandidateRun",
    "Direction",
    "FailureKind",
    "MinImprovementMode",
    "Name",
    "Text",
    "compare",
    "decide",
    "infer_direction",
    "run_outcome",
]


#: Run states in which the candidate may still produce its metric, and those that end its candidacy.
PENDING_RUN_STATES = frozenset({"RUNNING", "SCHEDULED"})
_FAILED_RUN_STATES = frozenset({"FAILED", "KILLED"})
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

    # defer_build: the validators are built on first use, in the task, not when a DAG file imports the sensor.
    model_config = ConfigDict(frozen=True, validate_default=True, defer_build=True)

    metric_name: Name
    experiment_name: Text = None
    run_id: Text = None
    filter_string: Text = None
    order_by: Annotated[tuple[str, ...], BeforeValidator(lambda v: v or DEFAULT_ORDER_BY)] = DEFAULT_ORDER_BY
    baseline_model_name: Text = None
    baseline_alias: Text = None
    baseline_value: Annotated[float | None, BeforeValidator(parse_number)] = None
    direction: Text = None
    min_improvement: Annotated[float, BeforeValidator(lambda v: parse_number(v) or 0.0)] = 0.0
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

    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True, defer_build=True)

    run_id: str
    experiment_id: str | None = None
    experiment_name: str | None = None
    metric_name: Name
    current_value: Positive
    baseline_value: Positive
    baseline_source: str | None = None
    direction: Annotated[Direction | None, BeforeValidator(parse_direction)] = None
    improvement_percentage: float | None = None
    min_improvement: Annotated[float | None, BeforeValidator(parse_number)] = None
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
    if status in _FAILED_RUN_STATES:
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

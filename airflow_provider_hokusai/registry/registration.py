"""
What :class:`~airflow_provider_hokusai.operators.mlflow.RegisterModelOperator` checks and writes: its rendered inputs
as one typed value (:class:`ModelRegistration`, every rule at once) and the tags they become. Pure: no I/O.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from airflow_provider_hokusai.exceptions import InvalidInputError
from airflow_provider_hokusai.gate.baseline import BaselineEvidence, Direction, compare, infer_direction
from airflow_provider_hokusai.messages.model_ready import (
    CONTRIBUTOR_ADDRESS_PATTERN,
    MAX_NAME_LENGTH,
    TOKEN_SYMBOL_PATTERN,
)
from airflow_provider_hokusai.registry import tags
from airflow_provider_hokusai.registry.evidence import evidence_tags
from airflow_provider_hokusai.registry.syntax import parse_model_uri

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ModelRegistration", "parse_evidence", "provenance_tags"]

# MLflow refuses these alias names: "latest" and version-like "v<digits>" are reserved.
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


def _as_mapping(evidence: Any) -> dict[str, Any] | None:
    # Native rendering or an XComArg gives the dict; plain Jinja rendering of ti.xcom_pull gives its Python repr.
    if isinstance(evidence, Mapping):
        return dict(evidence)
    if isinstance(evidence, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(evidence)
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, Mapping):
                return dict(parsed)
    return None


def parse_evidence(evidence: Mapping[str, Any] | str) -> dict[str, Any]:
    """
    The evidence as a dict, whether it arrives as a dict (native rendering, XComArg) or as text: JSON, or the
    Python repr that plain Jinja rendering of ``ti.xcom_pull(...)`` produces.

    :raises InvalidInputError: when it is neither.
    """
    parsed = _as_mapping(evidence)
    if parsed is None:
        raise InvalidInputError([("evidence", _NOT_EVIDENCE)], subject="model registration input")
    return parsed


_NOT_EVIDENCE = "must be a dict (or its JSON) as returned by the sensor"


def _evidence(value: Any) -> Any:
    if isinstance(value, BaselineEvidence):
        return value.model_dump()
    parsed = _as_mapping(value)
    if parsed is None:
        raise ValueError(_NOT_EVIDENCE)
    return parsed


class _CheckedEvidence(BaselineEvidence):
    """
    Evidence re-checked with :func:`~airflow_provider_hokusai.gate.baseline.compare`, the sensor's and the publisher's
    rule: ``direction`` is inferred when absent and ``improvement_percentage`` recomputed from the fields before
    them; the threshold was the sensor's to enforce and is only recorded.
    """

    model_config = ConfigDict(validate_default=True)

    @field_validator("direction")
    @classmethod
    def _direction(cls, value: Direction | None, info: ValidationInfo) -> Direction | None:
        name = info.data.get("metric_name")
        return infer_direction(name) if value is None and name else value

    @field_validator("improvement_percentage")
    @classmethod
    def _improvement(cls, value: float | None, info: ValidationInfo) -> float | None:
        data = info.data
        if not {"metric_name", "current_value", "baseline_value", "direction"} <= data.keys():
            return value  # what it is computed from is invalid, and reported as such
        comparison = compare(
            data["metric_name"], data["current_value"], data["baseline_value"], direction=data["direction"]
        )
        if not comparison.passed or not math.isfinite(comparison.improvement_percentage):
            raise ValueError(f"must be > 0; {comparison.reason}")
        return comparison.improvement_percentage


def _registrable(model_uri: str) -> str:
    try:
        parse_model_uri(model_uri)
    except InvalidInputError as exc:
        raise ValueError(exc.errors[0].rule) from None
    return model_uri


def _alias(alias: str | None) -> str | None:
    if alias is not None and (not alias.strip() or _RESERVED_ALIAS.match(alias)):
        raise ValueError(f"must be a non-empty name other than 'latest' or 'v<n>', got {alias!r}")
    return alias


class ModelRegistration(BaseModel):
    """RegisterModelOperator's rendered inputs, checked before anything is written to the registry."""

    model_config = ConfigDict(frozen=True)

    registered_model_name: Annotated[str, Field(pattern=r"\S", max_length=MAX_NAME_LENGTH)]
    model_uri: Annotated[str, AfterValidator(_registrable)]
    token_symbol: Annotated[
        str, BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v), Field(pattern=TOKEN_SYMBOL_PATTERN)
    ]
    contributor_address: Annotated[str, Field(pattern=CONTRIBUTOR_ADDRESS_PATTERN)] | None = None
    model_id: Annotated[str, Field(pattern=r"\S")] | None = None
    alias: Annotated[str | None, AfterValidator(_alias)] = None
    evidence: Annotated[_CheckedEvidence, BeforeValidator(_evidence)]

    def version_tags(self) -> dict[str, str]:
        """
        The model-version tags of :mod:`airflow_provider_hokusai.registry.tags`; the publisher reads them back as
        they are.

        :raises InvalidInputError: naming every tag whose value MLflow would refuse as too long.
        """
        return evidence_tags(
            self.evidence,
            token_symbol=self.token_symbol,
            model_id=self.model_id or self.registered_model_name,
            contributor_address=self.contributor_address,
        )


def provenance_tags(context: Context) -> dict[str, str]:
    """
    The ``hokusai_airflow_*`` tags naming the task instance of ``context`` (the Hokusai page links the version to
    it); none when the context has no task instance with those ids (an operator run outside a DAG run).
    """
    ti = context.get("ti")
    ids = {
        tags.AIRFLOW_DAG_ID: getattr(ti, "dag_id", None),
        tags.AIRFLOW_RUN_ID: getattr(ti, "run_id", None),
        tags.AIRFLOW_TASK_ID: getattr(ti, "task_id", None),
    }
    if not all(isinstance(value, str) and value for value in ids.values()):
        return {}
    return {key: str(value) for key, value in ids.items()}

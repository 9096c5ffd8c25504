"""Operator that registers a validated candidate in the MLflow model registry, once."""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from airflow.sdk import BaseOperator
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from airflow_provider_hokusai.exceptions import InvalidInputError
from airflow_provider_hokusai.gate.baseline import BaselineEvidence, Direction, compare, infer_direction
from airflow_provider_hokusai.links import MODEL_VERSION_URL_XCOM_KEY, MLflowModelVersionLink
from airflow_provider_hokusai.messages.model_ready import (
    CONTRIBUTOR_ADDRESS_PATTERN,
    MAX_NAME_LENGTH,
    TOKEN_SYMBOL_PATTERN,
)
from airflow_provider_hokusai.registry import tags
from airflow_provider_hokusai.registry.connection import DEFAULT_CONN_ID
from airflow_provider_hokusai.registry.evidence import evidence_tags, with_pending_mark
from airflow_provider_hokusai.registry.syntax import parse_model_uri
from airflow_provider_hokusai.utils.validation import validate_attributes

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["RegisterModelOperator", "parse_evidence", "provenance_tags"]

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


class _ModelRegistration(BaseModel):
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


class RegisterModelOperator(BaseOperator):
    """
    Register a validated candidate under a registered model name, exactly once, with the Hokusai tags.

    Idempotent across retries and re-runs: a version of ``registered_model_name`` already registered from the
    same run and source is reused, so a candidate never gets a second version. Waits (bounded) until the
    version is READY, then writes the model-version tags of :mod:`airflow_provider_hokusai.registry.tags` - the existing
    platform's ``hokusai_token_id`` / ``benchmark_metric`` / ``benchmark_value`` plus the validation evidence -
    and optionally points ``alias`` at the version.

    Everything is validated before anything is written: the evidence must say ``passed`` and its numbers must
    satisfy the ``model_ready_to_deploy`` contract (finite, > 0, improvement > 0), the token symbol and
    contributor address must match the contract's patterns. Any violation raises
    :class:`~airflow_provider_hokusai.exceptions.InvalidInputError` (no retry) and leaves the registry
    untouched.

    Returns (XCom) ``{"model_name", "model_version", "model_id", "run_id", "token_symbol", "evidence",
    "model_version_url"}`` and pushes ``model_version_url`` for the "MLflow model version" extra link.

    :param model_uri: ``runs:/<run_id>/<path>`` or an MLflow 3 logged model ``models:/m-<id>``. (templated)
    :param registered_model_name: Registered model to add the version to; created if needed. (templated)
    :param token_symbol: The model's token symbol, ``^[A-Z0-9-]{1,10}$`` (upper-cased first). (templated)
    :param evidence: The sensor's evidence: a dict, an XComArg, or its rendered text. (templated)
    :param model_id: Hokusai's stable model id written as ``hokusai_model_id``; defaults to the registered
        model name. (templated)
    :param contributor_address: Contributor's wallet address ``0x`` + 40 hex digits. (templated)
    :param alias: Alias to set on the version, e.g. ``candidate``. (templated)
    :param mlflow_conn_id: Id of the ``mlflow`` connection.
    :param await_ready_timeout: Seconds to wait for the version to become READY; on timeout the task fails
        with a retryable error and the retry resumes waiting on the same version.
    :param ready_poll_interval: Seconds between READY checks.
    """

    template_fields: Sequence[str] = (
        "model_uri",
        "registered_model_name",
        "token_symbol",
        "evidence",
        "model_id",
        "contributor_address",
        "alias",
    )
    ui_color = "#cfe8d7"
    operator_extra_links = (MLflowModelVersionLink(),)

    def __init__(
        self,
        *,
        model_uri: str,
        registered_model_name: str,
        token_symbol: str,
        evidence: dict[str, Any] | str,
        model_id: str | None = None,
        contributor_address: str | None = None,
        alias: str | None = None,
        mlflow_conn_id: str = DEFAULT_CONN_ID,
        await_ready_timeout: float = 300,
        ready_poll_interval: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_uri = model_uri
        self.registered_model_name = registered_model_name
        self.token_symbol = token_symbol
        self.evidence = evidence
        self.model_id = model_id
        self.contributor_address = contributor_address
        self.alias = alias
        self.mlflow_conn_id = mlflow_conn_id
        self.await_ready_timeout = await_ready_timeout
        self.ready_poll_interval = ready_poll_interval

    @property
    def hook(self) -> MLflowHook:
        # Imported here: a DAG file that imports the operator parses without the hook's modules.
        from airflow_provider_hokusai.hooks.mlflow import MLflowHook

        return MLflowHook(mlflow_conn_id=self.mlflow_conn_id)

    def registration(self) -> _ModelRegistration:
        """
        Check every rendered input without touching MLflow.

        :raises InvalidInputError: naming every failing field and its rule.
        """
        return validate_attributes(_ModelRegistration, self, InvalidInputError, subject="model registration input")

    def execute(self, context: Context) -> dict[str, Any]:
        registration = self.registration()
        evidence, version_tags = registration.evidence, registration.version_tags()
        hook = self.hook
        name = registration.registered_model_name
        source = hook.resolve_model_source(registration.model_uri)
        if source.run_id != evidence.run_id:
            raise InvalidInputError(
                [("model_uri", f"comes from run {source.run_id}, but the evidence is about run {evidence.run_id}")],
                subject="model registration input",
            )

        version_tags |= provenance_tags(context)
        # A new version gets its evidence and the pending mark with it, in one request.
        version, created = hook.get_or_create_model_version(name, source, tags=with_pending_mark(version_tags, {}))
        ready = hook.wait_for_model_version_ready(
            name, version.version, timeout=self.await_ready_timeout, poll_interval=self.ready_poll_interval
        )
        if not created:
            # A reused version: the evidence first, the pending mark last (the pending index only lists versions
            # whose evidence is in), and no mark over an announcement status or a receipt it already has.
            version_tags = with_pending_mark(version_tags, ready.tags or {})
            hook.set_model_version_tags(name, ready.version, version_tags)
        if registration.alias:
            hook.set_registered_model_alias(name, registration.alias, ready.version)
        url = hook.model_version_url(name, ready.version)
        self.log.info(
            "%s version %s of %s (token %s, run %s)",
            "Registered" if created else "Reused",
            ready.version,
            name,
            version_tags[tags.TOKEN_ID],
            source.run_id,
        )
        context["ti"].xcom_push(key=MODEL_VERSION_URL_XCOM_KEY, value=url)
        return {
            "model_name": name,
            "model_version": str(ready.version),
            "model_id": version_tags[tags.MODEL_ID],
            "run_id": source.run_id,
            "token_symbol": version_tags[tags.TOKEN_ID],
            "evidence": evidence.model_dump(mode="json"),
            "model_version_url": url,
        }

"""Operator that registers a validated candidate in the MLflow model registry, once."""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hokusai import tags
from airflow_provider_hokusai.baseline import compare
from airflow_provider_hokusai.exceptions import InvalidBaselineInput, InvalidRegistrationInput
from airflow_provider_hokusai.hooks.mlflow import MLflowHook, parse_model_uri
from airflow_provider_hokusai.links import MODEL_VERSION_URL_XCOM_KEY, MLflowModelVersionLink
from airflow_provider_hokusai.messages.model_ready import (
    CONTRIBUTOR_ADDRESS_PATTERN,
    MAX_NAME_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    TOKEN_SYMBOL_PATTERN,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

EVIDENCE_KEYS = (
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
)
# MLflow refuses these alias names: "latest" and version-like "v<digits>" are reserved.
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


def parse_evidence(evidence: Mapping[str, Any] | str) -> dict[str, Any]:
    """
    The evidence as a dict, whether it arrives as a dict (native rendering, XComArg) or as text: JSON, or the
    Python repr that plain Jinja rendering of ``ti.xcom_pull(...)`` produces.

    :raises InvalidRegistrationInput: when it is neither.
    """
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
    raise InvalidRegistrationInput([("evidence", "must be a dict (or its JSON) as returned by the sensor")])


class RegisterModelOperator(BaseOperator):
    """
    Register a validated candidate under a registered model name, exactly once, with the Hokusai tags.

    Idempotent across retries and re-runs: a version of ``registered_model_name`` already registered from the
    same run and source is reused, so a candidate never gets a second version. Waits (bounded) until the
    version is READY, then writes the model-version tags of :mod:`airflow_provider_hokusai.tags` - the existing
    platform's ``hokusai_token_id`` / ``benchmark_metric`` / ``benchmark_value`` plus the validation evidence -
    and optionally points ``alias`` at the version.

    Everything is validated before anything is written: the evidence must say ``passed`` and its numbers must
    satisfy the ``model_ready_to_deploy`` contract (finite, > 0, improvement > 0), the token symbol and
    contributor address must match the contract's patterns. Any violation raises
    :class:`~airflow_provider_hokusai.exceptions.InvalidRegistrationInput` (no retry) and leaves the registry
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
        mlflow_conn_id: str = MLflowHook.default_conn_name,
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
        return MLflowHook(mlflow_conn_id=self.mlflow_conn_id)

    def validate(self) -> tuple[dict[str, Any], dict[str, str]]:
        """
        Check every input without touching MLflow.

        :return: ``(evidence, tags)`` - the evidence with the re-computed comparison, and the tags to write
            (all but the run-derived ones, which are checked against the registry afterwards).
        :raises InvalidRegistrationInput: naming every failing field and its rule.
        """
        errors: list[tuple[str, str]] = []
        name = self.registered_model_name
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
            errors.append(("registered_model_name", f"must be a non-empty string of at most {MAX_NAME_LENGTH}"))
        try:
            parse_model_uri(self.model_uri)
        except InvalidRegistrationInput as exc:
            errors.extend(exc.errors)
        symbol = self.token_symbol.upper() if isinstance(self.token_symbol, str) else self.token_symbol
        if not isinstance(symbol, str) or not re.fullmatch(TOKEN_SYMBOL_PATTERN, symbol):
            errors.append(("token_symbol", f"must match {TOKEN_SYMBOL_PATTERN}, got {self.token_symbol!r}"))
        if self.contributor_address is not None and not (
            isinstance(self.contributor_address, str)
            and re.fullmatch(CONTRIBUTOR_ADDRESS_PATTERN, self.contributor_address)
        ):
            errors.append(
                ("contributor_address", f"must match {CONTRIBUTOR_ADDRESS_PATTERN}, got {self.contributor_address!r}")
            )
        if self.model_id is not None and (not isinstance(self.model_id, str) or not self.model_id.strip()):
            errors.append(("model_id", "must be a non-empty string when given"))
        if self.alias is not None and (
            not isinstance(self.alias, str) or not self.alias.strip() or _RESERVED_ALIAS.match(self.alias)
        ):
            errors.append(("alias", f"must be a non-empty name other than 'latest' or 'v<n>', got {self.alias!r}"))

        evidence: dict[str, Any] = {}
        try:
            evidence = parse_evidence(self.evidence)
        except InvalidRegistrationInput as exc:
            errors.extend(exc.errors)
        if evidence:
            missing = [k for k in ("run_id", "metric_name", "current_value", "baseline_value") if k not in evidence]
            if missing:
                errors.append(("evidence", f"missing keys {missing}"))
            elif evidence.get("passed") is not True:
                errors.append(("evidence.passed", "must be true: the candidate did not beat its baseline"))
            else:
                # Same decision as the sensor and the publisher; the threshold was the sensor's to enforce.
                try:
                    comparison = compare(
                        str(evidence["metric_name"]),
                        evidence["current_value"],
                        evidence["baseline_value"],
                        direction=evidence.get("direction"),
                    )
                except InvalidBaselineInput as exc:
                    errors.extend((f"evidence.{field}", rule) for field, rule in exc.errors)
                else:
                    if not comparison.passed or not math.isfinite(comparison.improvement_percentage):
                        errors.append(("evidence.improvement_percentage", f"must be > 0; {comparison.reason}"))
                    evidence.update(
                        current_value=comparison.current_value,
                        baseline_value=comparison.baseline_value,
                        direction=comparison.direction.value,
                        improvement_percentage=comparison.improvement_percentage,
                    )
        if errors:
            raise InvalidRegistrationInput(errors)

        version_tags = {
            tags.TOKEN_ID: symbol,
            tags.BENCHMARK_METRIC: str(evidence["metric_name"]),
            tags.BENCHMARK_VALUE: repr(float(evidence["baseline_value"])),
            tags.CURRENT_VALUE: repr(float(evidence["current_value"])),
            tags.DIRECTION: str(evidence["direction"]),
            tags.IMPROVEMENT_PERCENTAGE: repr(float(evidence["improvement_percentage"])),
            tags.RUN_ID: str(evidence["run_id"]),
            tags.MODEL_ID: self.model_id or name,
            tags.STATUS: tags.STATUS_VALIDATED,
        }
        if evidence.get("experiment_name"):
            version_tags[tags.EXPERIMENT_NAME] = str(evidence["experiment_name"])
        if self.contributor_address:
            version_tags[tags.CONTRIBUTOR_ADDRESS] = self.contributor_address
        too_long = [k for k, v in version_tags.items() if len(v) > MAX_TAG_VALUE_LENGTH]
        if too_long:
            raise InvalidRegistrationInput(
                [(k, f"must be at most {MAX_TAG_VALUE_LENGTH} characters") for k in too_long]
            )
        return evidence, version_tags

    def execute(self, context: Context) -> dict[str, Any]:
        evidence, version_tags = self.validate()
        hook = self.hook
        name = self.registered_model_name
        source = hook.resolve_model_source(self.model_uri)
        if source.run_id != evidence["run_id"]:
            raise InvalidRegistrationInput(
                [("model_uri", f"comes from run {source.run_id}, but the evidence is about run {evidence['run_id']}")]
            )

        version, created = hook.get_or_create_model_version(name, source)
        ready = hook.wait_for_model_version_ready(
            name, version.version, timeout=self.await_ready_timeout, poll_interval=self.ready_poll_interval
        )
        hook.set_model_version_tags(name, ready.version, version_tags)
        if self.alias:
            hook.client.set_registered_model_alias(name, self.alias, str(ready.version))
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
            "evidence": {k: evidence.get(k) for k in EVIDENCE_KEYS},
            "model_version_url": url,
        }

"""Operator that registers a validated candidate in the MLflow model registry, once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hokusai.exceptions import InvalidInputError
from airflow_provider_hokusai.links import MODEL_VERSION_URL_XCOM_KEY, MLflowModelVersionLink
from airflow_provider_hokusai.registry import tags
from airflow_provider_hokusai.registry.connection import DEFAULT_CONN_ID
from airflow_provider_hokusai.utils.validation import validate_attributes

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.registry.registration import ModelRegistration

__all__ = ["MLflowHookMixin", "RegisterModelOperator"]


class MLflowHookMixin:
    """
    What every task over an ``mlflow`` connection shares: its ``mlflow_conn_id`` and the hook built from it (as the
    amazon provider's ``AwsBaseHookMixin`` does for ``aws_conn_id``).
    """

    mlflow_conn_id: str

    @property
    def hook(self) -> MLflowHook:
        """A hook on ``mlflow_conn_id`` (imported here: a DAG file that imports the task parses without it)."""
        from airflow_provider_hokusai.hooks.mlflow import MLflowHook

        return MLflowHook(mlflow_conn_id=self.mlflow_conn_id)


class RegisterModelOperator(MLflowHookMixin, BaseOperator):
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

    def registration(self) -> ModelRegistration:
        """
        Check every rendered input without touching MLflow.

        :raises InvalidInputError: naming every failing field and its rule.
        """
        # Imported here, as the hook is: the checks' pydantic models are built when a task runs, not at parse.
        from airflow_provider_hokusai.registry.registration import ModelRegistration

        return validate_attributes(ModelRegistration, self, InvalidInputError, subject="model registration input")

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hokusai.registry.evidence import with_pending_mark
        from airflow_provider_hokusai.registry.registration import provenance_tags

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

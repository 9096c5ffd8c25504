"""Hook for MLflow 3 tracking servers and model registries, built on ``mlflow.MlflowClient``."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from airflow.sdk import BaseHook

from airflow_provider_hokusai.baseline import Direction, compare
from airflow_provider_hokusai.exceptions import (
    InvalidBaselineInput,
    InvalidMLflowConnection,
    InvalidRegistrationInput,
    ModelRegistrationError,
    ModelRegistrationTimeout,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.utils.rest_utils import MlflowHostCreds

    from airflow_provider_hokusai.baseline import MinImprovementMode

#: Run states in which the candidate may still produce its metric.
PENDING_RUN_STATES = frozenset({"RUNNING", "SCHEDULED"})
#: Run states that end the candidacy: a failed or killed run never becomes good.
FAILED_RUN_STATES = frozenset({"FAILED", "KILLED"})
DEFAULT_ORDER_BY = ("attributes.start_time DESC",)

_REMOTE_SCHEMES = ("http", "https")
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)/(?P<path>.+)$")
_LOGGED_MODEL_URI = re.compile(r"^models:/(?P<model_id>m-[A-Za-z0-9]+)/?$")


def redact_uri(uri: str) -> str:
    """``uri`` without any ``user:password@`` part, safe for logs and error messages."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable uri>"
    if parts.username is None and parts.password is None:
        return uri
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"***@{netloc}"))


def parse_model_uri(model_uri: str) -> tuple[str | None, str | None]:
    """
    Split a registrable model URI into ``(run_id, logged_model_id)``.

    :param model_uri: ``runs:/<run_id>/<artifact path>`` or ``models:/m-<id>`` (an MLflow 3 logged model).
    :raises InvalidRegistrationInput: for any other form.
    """
    if isinstance(model_uri, str):
        if match := _RUNS_URI.match(model_uri):
            return match["run_id"], None
        if match := _LOGGED_MODEL_URI.match(model_uri):
            return None, match["model_id"]
    raise InvalidRegistrationInput(
        [("model_uri", f"must be 'runs:/<run_id>/<path>' or 'models:/m-<id>', got {model_uri!r}")]
    )


@dataclass(frozen=True)
class BaselineCheck:
    """
    One look at a candidate run against its baseline.

    ``status`` is ``pending`` (keep waiting), ``success`` (``evidence`` is set) or ``failed`` (``error`` names
    the permanent outcome: ``baseline_not_met``, ``run_failed``, ``metric_missing``, ``baseline_unavailable``
    or ``invalid_input``). Only primitives, so a trigger can put it in an event as is.
    """

    status: Literal["pending", "success", "failed"]
    reason: str
    evidence: dict[str, Any] | None = None
    error: str | None = None
    run_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ModelSource:
    """Where a model version comes from, resolved the way ``mlflow.register_model`` does it."""

    source: str
    run_id: str | None
    logged_model_id: str | None


class MLflowHook(BaseHook):
    """
    Talk to an MLflow 3 tracking server and model registry through a cached ``mlflow.MlflowClient``.

    The ``mlflow`` connection is read as follows (first match wins):

    * extra ``tracking_uri``: used verbatim (e.g. ``sqlite:////abs/path/mlflow.db`` for an embedded store);
    * ``host`` holding a full URI (``sqlite:...``, ``file:...``, ``http(s)://...``): used verbatim;
    * otherwise ``<scheme>://<host>[:<port>][/<schema>]`` with extra ``scheme`` ``http`` (default) or ``https``,
      so ``mlflow://127.0.0.1:5000`` means ``http://127.0.0.1:5000``.

    Extra ``registry_uri`` points the model registry elsewhere (default: the tracking URI); extra ``ui_url``
    overrides the base URL of links to the MLflow UI (default: the tracking URI of an http(s) server, none for
    local stores); extra ``artifact_location`` is where experiments this hook creates keep their artifacts (default:
    the server's artifact root, or ``./mlruns`` of the working directory for local stores); extra ``insecure_tls``
    skips TLS verification (testing only).

    Authentication: ``login`` + ``password`` means HTTP basic auth; a ``password`` without ``login`` is a bearer
    token. The credentials are bound to this hook's client only: the client's REST stores get an explicit
    ``MlflowHostCreds`` (MLflow's own injection point, ``RestStore(get_host_creds)``) instead of the
    ``MLFLOW_TRACKING_TOKEN`` / ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` environment variables,
    which would leak to every other client and thread of the process. Without credentials on the connection,
    MLflow's usual resolution applies. Artifact up/downloads are not part of the hook's job and keep MLflow's
    default resolution.

    :param mlflow_conn_id: Id of the ``mlflow`` connection.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the generic connection form for MLflow."""
        return {
            "hidden_fields": [],
            "relabeling": {
                "host": "Host or tracking URI",
                "schema": "Path prefix",
                "login": "Username (basic auth)",
                "password": "Password, or token when no username",
            },
            "placeholders": {
                "host": "127.0.0.1 or sqlite:////abs/path/mlflow.db",
                "port": "5000",
                "extra": '{"scheme": "https", "registry_uri": "...", "ui_url": "..."}',
            },
        }

    # ----------------------------------------------------------------------------------------- connection

    @cached_property
    def _settings(self) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.mlflow_conn_id)
        except AirflowNotFoundException:
            raise InvalidMLflowConnection(
                [("mlflow_conn_id", f"connection {self.mlflow_conn_id!r} is not defined")]
            ) from None
        # Form fields may be saved with the legacy "extra__mlflow__" prefix; plain keys win.
        extra = {k.removeprefix("extra__mlflow__"): v for k, v in conn.extra_dejson.items() if v not in (None, "")}
        extra |= {k: v for k, v in conn.extra_dejson.items() if not k.startswith("extra__") and v not in (None, "")}
        tracking_uri = str(extra.get("tracking_uri") or "").strip()
        host = (conn.host or "").strip()
        if not tracking_uri:
            if not host:
                raise InvalidMLflowConnection([("host", "must be set (a host name or a full tracking URI)")])
            if "://" in host or host.startswith(("sqlite:", "file:")):
                tracking_uri = host
            else:
                scheme = str(extra.get("scheme") or "http").lower()
                if scheme not in _REMOTE_SCHEMES:
                    raise InvalidMLflowConnection(
                        [("extra.scheme", f"must be one of {list(_REMOTE_SCHEMES)}, got {scheme!r}")]
                    )
                netloc = f"{host}:{conn.port}" if conn.port else host
                path = f"/{conn.schema.strip('/')}" if conn.schema and conn.schema.strip("/") else ""
                tracking_uri = f"{scheme}://{netloc}{path}"
        registry_uri = str(extra.get("registry_uri") or "").strip() or tracking_uri
        ui_url = extra.get("ui_url")
        if ui_url is None and urlsplit(tracking_uri).scheme in _REMOTE_SCHEMES:
            ui_url = redact_uri(tracking_uri)
        return {
            "tracking_uri": tracking_uri,
            "registry_uri": registry_uri,
            "ui_url": str(ui_url).rstrip("/") if ui_url else None,
            "artifact_location": str(extra.get("artifact_location") or "").strip() or None,
            "login": conn.login or None,
            "password": conn.password or None,
            "insecure_tls": bool(extra.get("insecure_tls", False)),
        }

    @property
    def tracking_uri(self) -> str:
        """The tracking URI the client talks to."""
        return str(self._settings["tracking_uri"])

    @property
    def registry_uri(self) -> str:
        """The model registry URI (the tracking URI unless the connection says otherwise)."""
        return str(self._settings["registry_uri"])

    @property
    def ui_url(self) -> str | None:
        """Base URL of the MLflow UI, or None for local (sqlite/file) stores."""
        ui_url = self._settings["ui_url"]
        return str(ui_url) if ui_url else None

    def _host_creds(self, uri: str) -> MlflowHostCreds:
        from mlflow.utils.rest_utils import MlflowHostCreds

        login, password = self._settings["login"], self._settings["password"]
        return MlflowHostCreds(
            host=uri,
            username=login if login and password else None,
            password=password if login and password else None,
            token=password if password and not login else None,
            ignore_tls_verification=self._settings["insecure_tls"],
        )

    @cached_property
    def client(self) -> MlflowClient:
        """The ``mlflow.MlflowClient`` of this connection, built on first use and cached."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
        if self._settings["password"]:
            _bind_credentials(client, self)
        self.log.info(
            "MLflow client for connection %s: tracking %s, registry %s",
            self.mlflow_conn_id,
            redact_uri(self.tracking_uri),
            redact_uri(self.registry_uri),
        )
        return client

    def get_conn(self) -> MlflowClient:
        """Return the cached ``mlflow.MlflowClient``."""
        return self.client

    def test_connection(self) -> tuple[bool, str]:
        """Query the tracking server and the registry (one small search each)."""
        try:
            self.client.search_experiments(max_results=1)
            self.client.search_registered_models(max_results=1)
        except Exception as exc:
            return False, f"MLflow at {redact_uri(self.tracking_uri)} is not usable: {type(exc).__name__}: {exc}"
        return True, f"Connected to MLflow at {redact_uri(self.tracking_uri)}"

    # ------------------------------------------------------------------------------------------- helpers

    def get_run(self, run_id: str) -> Run:
        """The MLflow run ``run_id`` (info, metrics, params, tags)."""
        return self.client.get_run(run_id)

    def get_or_create_experiment(self, name: str) -> str:
        """
        The id of experiment ``name``, created (with the connection's ``artifact_location``) when missing.

        Training code then logs into it with ``mlflow.set_experiment(experiment_id=...)``.
        """
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = self._settings["artifact_location"]
        try:
            return str(self.client.create_experiment(name, artifact_location=location))
        except Exception:
            # Another task created it between the lookup and the create.
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        """One registered model version."""
        return self.client.get_model_version(name, str(version))

    def set_model_version_tags(self, name: str, version: str | int, tags: dict[str, str]) -> None:
        """Set (create or overwrite) several tags on a model version."""
        for key, value in tags.items():
            self.client.set_model_version_tag(name, str(version), key, str(value))

    def search_model_versions(self, filter_string: str, max_results: int = 1000) -> list[ModelVersion]:
        """Model versions matching an MLflow filter string, e.g. ``"name='m' AND run_id='abc'"``."""
        return list(self.client.search_model_versions(filter_string, max_results=max_results))

    def model_version_url(self, name: str, version: str | int) -> str | None:
        """Link to the model version in the MLflow UI, or None when the store has no UI."""
        if not self.ui_url:
            return None
        return f"{self.ui_url}/#/models/{quote(name, safe='')}/versions/{quote(str(version), safe='')}"

    # ------------------------------------------------------------------------------------- baseline gate

    def find_candidate_run(
        self,
        *,
        run_id: str | None = None,
        experiment_name: str | None = None,
        filter_string: str | None = None,
        order_by: list[str] | tuple[str, ...] | None = None,
    ) -> Run | None:
        """
        The candidate run: ``run_id`` itself, or the first run of ``experiment_name`` matching ``filter_string``
        in ``order_by`` order (newest first by default). None while no such run (or experiment) exists yet.
        """
        if run_id:
            return self.get_run(run_id)
        experiment = self.client.get_experiment_by_name(str(experiment_name))
        if experiment is None:
            return None
        runs = self.client.search_runs(
            experiment_ids=[experiment.experiment_id],
            filter_string=filter_string or "",
            order_by=list(order_by or DEFAULT_ORDER_BY),
            max_results=1,
        )
        return runs[0] if runs else None

    def get_alias_metric(self, model_name: str, alias: str, metric_name: str) -> float | None:
        """
        The value of ``metric_name`` for the model version behind ``model_name@alias``: the metric of the run
        that produced it, else of its logged model. None when the alias does not exist or has no such metric.
        """
        from mlflow.exceptions import MlflowException

        try:
            version = self.client.get_model_version_by_alias(model_name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"):
                return None
            raise
        if version.run_id:
            value = self.get_run(version.run_id).data.metrics.get(metric_name)
            if value is not None:
                return float(value)
        # Over REST, MLflow 3.17 leaves ModelVersion.model_id empty; the source still names the logged model.
        source_match = _LOGGED_MODEL_URI.match(version.source or "")
        logged_model_id = version.model_id or (source_match["model_id"] if source_match else None)
        if logged_model_id:
            for metric in self.client.get_logged_model(logged_model_id).metrics or []:
                if metric.key == metric_name:
                    return float(metric.value)
        return None

    def evaluate_baseline(
        self,
        *,
        metric_name: str,
        run_id: str | None = None,
        experiment_name: str | None = None,
        filter_string: str | None = None,
        order_by: list[str] | tuple[str, ...] | None = None,
        baseline_value: float | None = None,
        baseline_model_name: str | None = None,
        baseline_alias: str | None = None,
        direction: str | Direction | None = None,
        min_improvement: float = 0.0,
        min_improvement_mode: str | MinImprovementMode = "relative",
    ) -> BaselineCheck:
        """
        Look once at the candidate run and decide with :func:`airflow_provider_hokusai.baseline.compare`.

        The baseline is ``baseline_model_name@baseline_alias``'s metric when the alias exists, else
        ``baseline_value``. Transport errors propagate (the caller decides whether to retry); every permanent
        outcome comes back as a ``failed`` :class:`BaselineCheck`.
        """
        run = self.find_candidate_run(
            run_id=run_id, experiment_name=experiment_name, filter_string=filter_string, order_by=order_by
        )
        if run is None:
            return BaselineCheck("pending", f"no run yet in experiment {experiment_name!r} matching the filter")
        info = run.info
        status = str(info.status)
        if status in PENDING_RUN_STATES:
            return BaselineCheck("pending", f"run {info.run_id} is {status}", run_id=info.run_id)
        if status in FAILED_RUN_STATES:
            return BaselineCheck("failed", f"run {info.run_id} ended {status}", error="run_failed")
        if status != "FINISHED":
            return BaselineCheck("pending", f"run {info.run_id} is in state {status}", run_id=info.run_id)

        current = run.data.metrics.get(metric_name)
        if current is None:
            return BaselineCheck(
                "failed", f"run {info.run_id} finished without metric {metric_name!r}", error="metric_missing"
            )
        if not math.isfinite(float(current)):
            return BaselineCheck(
                "failed",
                f"run {info.run_id} finished with non-finite {metric_name}={current!r}",
                error="metric_missing",
            )

        baseline: float | None = None
        baseline_source = "value"
        if baseline_alias:
            baseline = self.get_alias_metric(str(baseline_model_name), baseline_alias, metric_name)
            baseline_source = f"alias:{baseline_alias}"
        if baseline is None:
            if baseline_value is None:
                return BaselineCheck(
                    "failed",
                    f"no baseline: {baseline_model_name}@{baseline_alias} does not exist or has no "
                    f"metric {metric_name!r}, and no baseline_value is set",
                    error="baseline_unavailable",
                )
            baseline, baseline_source = baseline_value, "value"

        try:
            comparison = compare(
                metric_name,
                float(current),
                baseline,
                direction=direction,
                min_improvement=min_improvement,
                min_improvement_mode=min_improvement_mode,
            )
        except InvalidBaselineInput as exc:
            return BaselineCheck("failed", str(exc), error="invalid_input")
        if not comparison.passed:
            return BaselineCheck("failed", f"run {info.run_id}: {comparison.reason}", error="baseline_not_met")

        experiment = self.client.get_experiment(info.experiment_id)
        evidence = {
            "run_id": info.run_id,
            "experiment_id": str(info.experiment_id),
            "experiment_name": experiment.name if experiment else None,
            "metric_name": metric_name,
            "current_value": comparison.current_value,
            "baseline_value": comparison.baseline_value,
            "baseline_source": baseline_source,
            "direction": comparison.direction.value,
            "improvement_percentage": comparison.improvement_percentage,
            "min_improvement": comparison.min_improvement,
            "passed": True,
        }
        return BaselineCheck("success", f"run {info.run_id}: {comparison.reason}", evidence=evidence)

    # ------------------------------------------------------------------------------------- registration

    def resolve_model_source(self, model_uri: str) -> ModelSource:
        """
        Resolve a model URI the way ``mlflow.register_model`` does, but with this hook's client.

        ``runs:/<run_id>/<name>`` becomes the MLflow 3 logged model of that run with that name (the newest if
        several); a run without such a logged model keeps the ``runs:/`` URI as source. ``models:/m-<id>``
        stays as is and its run is looked up.
        """
        run_id, logged_model_id = parse_model_uri(model_uri)
        if logged_model_id:
            logged = self.client.get_logged_model(logged_model_id)
            return ModelSource(model_uri, logged.source_run_id, logged_model_id)
        assert run_id is not None
        artifact_path = str(_RUNS_URI.match(model_uri)["path"]).strip("/")  # type: ignore[index]
        run = self.get_run(run_id)
        logged_models = [
            m
            for m in self.client.search_logged_models(
                experiment_ids=[run.info.experiment_id],
                filter_string=f"source_run_id = '{run_id}'",
                order_by=[{"field_name": "creation_time", "ascending": False}],
            )
            if m.name == artifact_path
        ]
        if logged_models:
            chosen = logged_models[0].model_id
            return ModelSource(f"models:/{chosen}", run_id, chosen)
        return ModelSource(model_uri, run_id, None)

    def find_model_version(self, name: str, source: ModelSource) -> ModelVersion | None:
        """The oldest existing version of ``name`` registered from the same run and source, if any."""
        if source.run_id:
            candidates = self.search_model_versions(f"name = {_literal(name)} AND run_id = {_literal(source.run_id)}")
        else:
            candidates = self.search_model_versions(f"name = {_literal(name)}")
        same = [
            v
            for v in candidates
            if v.source == source.source
            and (source.logged_model_id is None or getattr(v, "model_id", None) in (None, source.logged_model_id))
        ]
        return min(same, key=lambda v: int(v.version)) if same else None

    def get_or_create_model_version(self, name: str, source: ModelSource) -> tuple[ModelVersion, bool]:
        """
        Reuse the version of ``name`` already registered from ``source``, or register one (creating the
        registered model if needed). Returns ``(version, created)``.
        """
        from mlflow.exceptions import MlflowException

        existing = self.find_model_version(name, source)
        if existing is not None:
            self.log.info("Reusing version %s of %s registered from %s", existing.version, name, source.source)
            return existing, False
        try:
            self.client.create_registered_model(name)
            self.log.info("Created registered model %s", name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        version = self.client.create_model_version(
            name,
            source.source,
            run_id=source.run_id,
            model_id=source.logged_model_id,
            await_creation_for=0,
        )
        self.log.info("Registered version %s of %s from %s", version.version, name, source.source)
        return version, True

    def wait_for_model_version_ready(
        self, name: str, version: str | int, *, timeout: float = 300, poll_interval: float = 1.0
    ) -> ModelVersion:
        """
        Poll until the version is READY.

        :raises ModelRegistrationError: the registry reports FAILED_REGISTRATION.
        :raises ModelRegistrationTimeout: still pending after ``timeout`` seconds (retrying resumes the wait).
        """
        deadline = time.monotonic() + timeout
        while True:
            current = self.get_model_version(name, version)
            status = str(current.status)
            if status == "READY":
                return current
            if status == "FAILED_REGISTRATION":
                raise ModelRegistrationError(
                    f"version {version} of {name} failed registration: {current.status_message or 'no detail'}"
                )
            if time.monotonic() >= deadline:
                raise ModelRegistrationTimeout(f"version {version} of {name} is still {status} after {timeout:g}s")
            time.sleep(poll_interval)


def _literal(value: str) -> str:
    """``value`` as an MLflow filter-string literal; MLflow has no escape, only the choice of quote."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise InvalidRegistrationInput([("registered_model_name", "must not contain both ' and \"")])


def _bind_credentials(client: MlflowClient, hook: MLflowHook) -> None:
    """Give ``client`` REST stores that carry the hook's credentials, leaving process-wide state alone."""
    from mlflow.store.model_registry.rest_store import RestStore as RegistryRestStore
    from mlflow.store.tracking.rest_store import RestStore as TrackingRestStore
    from mlflow.tracking._model_registry.client import ModelRegistryClient
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    tracking_uri, registry_uri = hook.tracking_uri, hook.registry_uri
    if urlsplit(tracking_uri).scheme in _REMOTE_SCHEMES:
        tracking_store = TrackingRestStore(lambda: hook._host_creds(tracking_uri))

        class _TrackingClient(TrackingServiceClient):
            @property
            def store(self) -> Any:
                return tracking_store

        client._tracking_client = _TrackingClient(tracking_uri)
    if urlsplit(registry_uri).scheme in _REMOTE_SCHEMES:
        registry_store = RegistryRestStore(lambda: hook._host_creds(registry_uri))

        class _RegistryClient(ModelRegistryClient):
            @property
            def store(self) -> Any:
                return registry_store

        # MlflowClient builds its registry client lazily into this attribute; pre-seeding it is the only way
        # to hand it a store without going through the process-wide store registry.
        setattr(client, "_registry_client_lazy", _RegistryClient(registry_uri, tracking_uri))  # noqa: B010

"""Hook for MLflow 3 tracking servers and model registries, built on MLflow's public store classes: I/O only.

What the baseline gate decides from what the hook reads lives in :mod:`airflow_provider_hokusai.gate.baseline`; how an
``mlflow`` connection is read lives in :mod:`airflow_provider_hokusai.registry.connection`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_hokusai.exceptions import (
    ModelRegistrationError,
    ModelRegistrationTimeout,
)
from airflow_provider_hokusai.gate.baseline import CandidateRun
from airflow_provider_hokusai.hooks.mlflow_stores import MLflowStoreHook
from airflow_provider_hokusai.registry.checks import probe_mlflow
from airflow_provider_hokusai.registry.connection import DEFAULT_CONN_ID, is_remote, redact_uri, ui_field_behaviour
from airflow_provider_hokusai.registry.entities import RegistryVersion, TrackedExperiment, TrackedRun
from airflow_provider_hokusai.registry.errors import already_exists, is_not_found
from airflow_provider_hokusai.registry.syntax import (
    LOGGED_MODEL_URI,
    RUNS_URI,
    ModelSource,
    filter_literal,
    parse_model_uri,
)
from airflow_provider_hokusai.utils.redaction import describe

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from airflow_provider_hokusai.gate.baseline import BaselineCriteria

__all__ = ["MLflowHook", "ModelSource", "parse_model_uri", "redact_uri"]


class MLflowHook(MLflowStoreHook):
    """
    Talk to an MLflow 3 tracking server and model registry through MLflow's public store classes.

    The ``mlflow`` connection is read by :class:`~airflow_provider_hokusai.registry.connection.MLflowSettings`
    (``mlflow://host:5000``, or a full tracking URI such as ``sqlite:////abs/path/mlflow.db``). ``login`` +
    ``password`` is HTTP basic auth, a ``password`` alone a bearer token; both go with this hook's requests only
    (never into the process's ``MLFLOW_TRACKING_*`` variables, which every other client would pick up). The single
    MLflow calls are the methods of :class:`~airflow_provider_hokusai.hooks.mlflow_stores.MLflowStoreHook`.

    :param mlflow_conn_id: Id of the ``mlflow`` connection.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "mlflow"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(mlflow_conn_id=mlflow_conn_id, **kwargs)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the generic connection form for MLflow (Airflow 3 reads the same form from the provider info)."""
        return ui_field_behaviour()

    @property
    def ui_url(self) -> str | None:
        """Base URL of the MLflow UI, or None for local (sqlite/file) stores."""
        return self.settings.ui_url

    def test_connection(self) -> tuple[bool, str]:
        """Query the tracking server and the registry: one small search each, once, bounded (``connection_checks``)."""
        try:
            probe_mlflow(self)
        except Exception as exc:
            return False, f"MLflow at {redact_uri(self.tracking_uri)} is not usable: {describe(exc)}"
        return True, f"Connected to MLflow at {redact_uri(self.tracking_uri)}"

    def get_or_create_experiment(self, name: str) -> str:
        """The id of experiment ``name``, created (with the connection's ``artifact_location``) when missing."""
        experiment = self.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = self.settings.extra.artifact_location
        try:
            return str(self.create_experiment(name, artifact_location=location))
        except Exception:
            # Another task created it between the lookup and the create.
            experiment = self.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def log_model(self, run_id: str, local_dir: str | os.PathLike[str], name: str = "model") -> str:
        """
        Upload a model saved with ``mlflow.<flavor>.save_model`` as run ``run_id``'s MLflow 3 logged model ``name``,
        through this hook's stores and credentials (``mlflow.<flavor>.log_model`` would use the process's).

        :return: The logged model's id; ``runs:/<run_id>/<name>`` and ``models:/<id>`` both name it.
        """
        from mlflow.entities import LoggedModelStatus

        experiment_id = self.get_run(run_id).info.experiment_id
        model_id = str(self.create_logged_model(experiment_id, name=name, source_run_id=run_id).model_id)
        try:
            self.log_logged_model_artifacts(model_id, str(local_dir))
        except BaseException:
            self.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
            raise
        self.finalize_logged_model(model_id, LoggedModelStatus.READY)
        return model_id

    def model_version_url(self, name: str, version: str | int) -> str | None:
        """Link to the model version in the MLflow UI, or None when the store has no UI."""
        if not self.ui_url:
            return None
        return f"{self.ui_url}/#/models/{quote(name, safe='')}/versions/{quote(str(version), safe='')}"

    def find_candidate_run(self, criteria: BaselineCriteria, run: TrackedRun | None = None) -> CandidateRun | None:
        """
        Read the candidate: ``criteria.run_id`` (or ``run``, that run already read), or the first run of
        ``criteria.experiment_name`` matching ``filter_string`` in ``order_by`` order; None while there is none.
        """
        experiment: TrackedExperiment | None
        if criteria.run_id:
            run = run or self.get_run(criteria.run_id)
            experiment = self.get_experiment(run.info.experiment_id)
        else:
            experiment = self.get_experiment_by_name(str(criteria.experiment_name))
            if experiment is None:
                return None
            runs = self.search_runs(
                [experiment.experiment_id], criteria.filter_string or "", max_results=1, order_by=criteria.order_by
            )
            if not runs:
                return None
            run = runs[0]
        value = run.data.metrics.get(criteria.metric_name)
        return CandidateRun(
            run_id=run.info.run_id,
            status=str(run.info.status),
            experiment_id=str(run.info.experiment_id),
            experiment_name=experiment.name if experiment else None,
            metric_value=float(value) if value is not None else None,
        )

    def get_alias_metric(self, model_name: str, alias: str, metric_name: str) -> float | None:
        """
        The value of ``metric_name`` for the model version behind ``model_name@alias``: the metric of the run
        that produced it, else of its logged model. None when the alias does not exist or has no such metric.
        """
        try:
            version = self.get_model_version_by_alias(model_name, alias)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        if version.run_id:
            value = self.get_run(version.run_id).data.metrics.get(metric_name)
            if value is not None:
                return float(value)
        # Over REST, MLflow 3.17 leaves ModelVersion.model_id empty; the source still names the logged model.
        source_match = LOGGED_MODEL_URI.match(version.source or "")
        logged_model_id = version.model_id or (source_match["model_id"] if source_match else None)
        if logged_model_id:
            for metric in self.get_logged_model(logged_model_id).metrics or []:
                if metric.key == metric_name:
                    return float(metric.value)
        return None

    def resolve_model_source(self, model_uri: str) -> ModelSource:
        """
        Resolve a model URI the way ``mlflow.register_model`` does, but with this hook's stores.

        ``runs:/<run_id>/<name>`` becomes the MLflow 3 logged model of that run with that name (the newest if
        several); a run without such a logged model keeps the ``runs:/`` URI as source. ``models:/m-<id>``
        stays as is and its run is looked up.
        """
        run_id, logged_model_id = parse_model_uri(model_uri)
        if logged_model_id:
            logged = self.get_logged_model(logged_model_id)
            return ModelSource(model_uri, logged.source_run_id, logged_model_id)
        assert run_id is not None
        artifact_path = str(RUNS_URI.match(model_uri)["path"]).strip("/")  # type: ignore[index]
        run = self.get_run(run_id)
        logged_models = [
            m
            for m in self.search_logged_models(
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
            candidates = self.search_model_versions(
                f"name = {filter_literal(name)} AND run_id = {filter_literal(source.run_id)}"
            )
        else:
            candidates = self.search_model_versions(f"name = {filter_literal(name)}")
        same = [
            v
            for v in candidates
            if v.source == source.source
            and (source.logged_model_id is None or getattr(v, "model_id", None) in (None, source.logged_model_id))
        ]
        return min(same, key=lambda v: int(v.version)) if same else None

    def get_or_create_model_version(
        self, name: str, source: ModelSource, tags: Mapping[str, str] | None = None
    ) -> tuple[ModelVersion, bool]:
        """
        Reuse the version of ``name`` already registered from ``source``, or register one (creating the
        registered model if needed) carrying ``tags``, written with the version in one request. Returns
        ``(version, created)``; a reused version's tags are left as they are.
        """
        from mlflow.exceptions import MlflowException

        existing = self.find_model_version(name, source)
        if existing is not None:
            self.log.info("Reusing version %s of %s registered from %s", existing.version, name, source.source)
            return existing, False
        try:
            self.create_registered_model(name)
            self.log.info("Created registered model %s", name)
        except MlflowException as exc:
            if not already_exists(exc):
                raise
        with self._process_tracking_uri():
            version = self.create_model_version(
                name, source.source, run_id=source.run_id, model_id=source.logged_model_id, tags=tags
            )
        self.log.info("Registered version %s of %s from %s", version.version, name, source.source)
        return version, True

    @contextlib.contextmanager
    def _process_tracking_uri(self) -> Iterator[None]:
        """
        MLflow's local (sqlite/file) registry finds logged models (``models:/m-<id>``) through the process's tracking
        URI (MLflow's own TODO in its SQLAlchemy registry store): this hook's for the block, then the previous one and
        the ``MLFLOW_TRACKING_URI`` variable as they were. Nothing changes for a registry served over HTTP, where
        credentials are involved.
        """
        if is_remote(self.registry_uri):
            yield
            return
        import mlflow

        previous, variable = mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
        if previous == self.tracking_uri:
            yield
            return
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous)
            if variable is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = variable

    def wait_for_model_version_ready(
        self, name: str, version: str | int, *, timeout: float = 300, poll_interval: float = 1.0
    ) -> RegistryVersion:
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

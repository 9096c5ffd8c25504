"""
The MLflow calls the provider makes, one hook method each, on MLflow's public store classes: I/O only.

:class:`MLflowStoreHook` reads the ``mlflow`` connection and opens its stores
(:func:`airflow_provider_hokusai.registry.stores.open_stores`); each method is one call of MLflow's REST API (or of a
local store), no read before a write, no decision. :class:`~airflow_provider_hokusai.hooks.mlflow.MLflowHook` builds
the provider's reads (the candidate run, the baseline alias, the registration) on these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_hokusai.hooks.mlflow_webhooks import MLflowWebhookCalls
from airflow_provider_hokusai.registry.connection import MLflowSettings, is_remote
from airflow_provider_hokusai.registry.entities import Page, RegistryVersion, TrackedExperiment, TrackedRun
from airflow_provider_hokusai.registry.rest import MLflowRestClient
from airflow_provider_hokusai.registry.stores import MLflowStores, open_stores, with_credentials
from airflow_provider_hokusai.utils.connections import connection
from airflow_provider_hokusai.utils.redaction import mask_connection

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel, Run
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.store.entities import PagedList

__all__ = ["MLflowStoreHook"]


class MLflowStoreHook(MLflowWebhookCalls, BaseHook):
    """
    One ``mlflow`` connection's tracking and registry stores, and the calls the provider makes on them.

    :param mlflow_conn_id: Id of the ``mlflow`` connection.
    """

    def __init__(self, mlflow_conn_id: str = "mlflow_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def settings(self) -> MLflowSettings:
        """The connection, read once; :class:`InvalidConfigurationError` when it is missing or breaks a rule."""
        conn = connection(self.mlflow_conn_id, "mlflow_conn_id", "mlflow connection")
        # Error texts of MLflow quote the URI it called, credentials included when written into it.
        mask_connection(conn)
        return MLflowSettings.of(conn)

    @property
    def tracking_uri(self) -> str:
        """The tracking URI the stores talk to."""
        return self.settings.tracking_uri

    @property
    def registry_uri(self) -> str:
        """The model registry URI (the tracking URI unless the connection says otherwise)."""
        return self.settings.registry_uri

    @cached_property
    def stores(self) -> MLflowStores:
        """The connection's tracking and registry stores, opened on first use and cached (thread-safe to share)."""
        return open_stores(self.settings)

    def _rest(self, uri: str) -> MLflowRestClient | None:
        auth = self.settings.http_auth() if is_remote(uri) else None
        return MLflowRestClient(uri, auth) if auth is not None else None

    @cached_property
    def tracking_rest(self) -> MLflowRestClient | None:
        """
        The tracking server's REST API without MLflow's client (a run or an experiment read), when it is served over
        http(s) and its requests need no signing only MLflow's client knows (:meth:`MLflowSettings.http_auth`).
        """
        return self._rest(self.tracking_uri)

    @cached_property
    def registry_rest(self) -> MLflowRestClient | None:
        """The registry's REST API without MLflow's client (a version read, a tag written), as :attr:`tracking_rest`."""
        return self.tracking_rest if self.registry_uri == self.tracking_uri else self._rest(self.registry_uri)

    def connect(self) -> None:
        """
        Read the connection and open what its reads use: the REST clients over http(s), MLflow's stores otherwise (only
        then is MLflow's client imported).
        """
        if self.tracking_rest is None or self.registry_rest is None:
            self.get_conn()

    def get_conn(self) -> MLflowStores:
        """Return the cached stores."""
        return self.stores

    # Tracking.

    def get_run(self, run_id: str) -> TrackedRun:
        """The run ``run_id`` (info, metrics, params, tags)."""
        if self.tracking_rest is not None:
            return self.tracking_rest.get_run(run_id)
        return TrackedRun.of(self.stores.tracking.get_run(run_id))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        max_results: int = 1000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
        deleted_too: bool = False,
    ) -> Page[TrackedRun]:
        """One page of the runs matching ``filter_string`` (active; deleted too if asked); ``token`` is the next."""
        if self.tracking_rest is not None:
            return self.tracking_rest.search_runs(
                experiment_ids, filter_string, max_results, order_by, page_token, deleted_too
            )
        from mlflow.entities import ViewType

        view = ViewType.ALL if deleted_too else ViewType.ACTIVE_ONLY
        found = self.stores.tracking.search_runs(
            list(experiment_ids), filter_string, view, max_results, list(order_by), page_token
        )
        return Page(map(TrackedRun.of, found), found.token)

    def get_experiment(self, experiment_id: str) -> TrackedExperiment:
        """The experiment ``experiment_id``."""
        if self.tracking_rest is not None:
            return self.tracking_rest.get_experiment(str(experiment_id))
        return TrackedExperiment.of(self.stores.tracking.get_experiment(str(experiment_id)))

    def get_experiment_by_name(self, name: str) -> TrackedExperiment | None:
        """The experiment called ``name``, or None."""
        if self.tracking_rest is not None:
            return self.tracking_rest.get_experiment_by_name(name)
        found = self.stores.tracking.get_experiment_by_name(name)
        return TrackedExperiment.of(found) if found is not None else None

    def create_experiment(self, name: str, artifact_location: str | None = None) -> str:
        """Create experiment ``name``; its id."""
        return str(self.stores.tracking.create_experiment(name, artifact_location=artifact_location))

    def search_experiments(
        self, max_results: int = 1000, filter_string: str | None = None, page_token: str | None = None
    ) -> Page[TrackedExperiment]:
        """One page of the active experiments matching ``filter_string``; the page's ``token`` is the next one's."""
        if self.tracking_rest is not None:
            return self.tracking_rest.search_experiments(max_results, filter_string, page_token)
        from mlflow.entities import ViewType

        found = self.stores.tracking.search_experiments(
            view_type=ViewType.ACTIVE_ONLY, max_results=max_results, filter_string=filter_string, page_token=page_token
        )
        return Page(map(TrackedExperiment.of, found), found.token)

    def create_run(self, experiment_id: str, run_name: str | None = None, tags: Mapping[str, str] | None = None) -> Run:
        """Start a run (RUNNING) in experiment ``experiment_id``; MLflow's active run is left alone."""
        import time

        from mlflow.entities import RunTag

        return self.stores.tracking.create_run(
            experiment_id=str(experiment_id),
            user_id="unknown",
            start_time=int(time.time() * 1000),
            tags=[RunTag(key, str(value)) for key, value in (tags or {}).items()],
            run_name=run_name,
        )

    def log_batch(
        self,
        run_id: str,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        step: int = 0,
    ) -> None:
        """Log ``metrics`` (at ``step``, now), ``params`` and ``tags`` to run ``run_id`` in one request."""
        import time

        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self.stores.tracking.log_batch(
            run_id,
            metrics=[Metric(key, float(value), now, step) for key, value in (metrics or {}).items()],
            params=[Param(key, str(value)) for key, value in (params or {}).items()],
            tags=[RunTag(key, str(value)) for key, value in (tags or {}).items()],
        )

    def set_terminated(self, run_id: str, status: str = "FINISHED") -> None:
        """End run ``run_id`` now with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        import time

        from mlflow.entities import RunStatus

        self.stores.tracking.update_run_info(run_id, RunStatus.from_string(status), int(time.time() * 1000), None)

    def create_logged_model(self, experiment_id: str, name: str, source_run_id: str | None = None) -> LoggedModel:
        """Create an MLflow 3 logged model (PENDING) in experiment ``experiment_id``, from run ``source_run_id``."""
        return self.stores.tracking.create_logged_model(
            experiment_id=str(experiment_id), name=name, source_run_id=source_run_id
        )

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        """Set a logged model's status (``LoggedModelStatus.READY`` or ``FAILED``)."""
        return self.stores.tracking.finalize_logged_model(model_id, status)

    def artifact_repository(self, artifact_uri: str) -> Any:
        """
        MLflow's artifact repository for ``artifact_uri`` (``mlflow-artifacts:/``, http(s), a local path...); one
        served over HTTP by the tracking server sends this connection's credentials (MLflow's own reads them from
        the process's ``MLFLOW_TRACKING_*`` variables). A fresh repository, never MLflow's per-run cache.
        """
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        return with_credentials(
            get_artifact_repository(artifact_uri, tracking_uri=self.tracking_uri), self.settings.host_creds
        )

    def log_logged_model_artifacts(self, model_id: str, local_dir: str) -> None:
        """Upload the files under ``local_dir`` as logged model ``model_id``'s artifacts."""
        location = self.get_logged_model(model_id).artifact_location
        self.artifact_repository(location).log_artifacts(local_dir)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """The MLflow 3 logged model ``model_id``."""
        return self.stores.tracking.get_logged_model(model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[Mapping[str, Any]] = (),
        max_results: int | None = None,
    ) -> PagedList[LoggedModel]:
        """One page of the logged models of ``experiment_ids`` matching ``filter_string``."""
        return self.stores.tracking.search_logged_models(
            experiment_ids=[str(e) for e in experiment_ids],
            filter_string=filter_string,
            max_results=max_results,
            order_by=[dict(o) for o in order_by] or None,
        )

    # Model registry.

    def get_model_version(self, name: str, version: str | int) -> RegistryVersion:
        """One registered model version."""
        if self.registry_rest is not None:
            return self.registry_rest.get_model_version(name, str(version))
        return RegistryVersion.of(self.stores.registry.get_model_version(name, str(version)))

    def get_model_version_by_alias(self, name: str, alias: str) -> RegistryVersion:
        """The version ``name@alias`` points at."""
        if self.registry_rest is not None:
            return self.registry_rest.get_model_version_by_alias(name, alias)
        return RegistryVersion.of(self.stores.registry.get_model_version_by_alias(name, alias))

    def search_model_versions(
        self,
        filter_string: str,
        max_results: int = 1000,
        page_token: str | None = None,
        order_by: Sequence[str] = ("creation_timestamp ASC",),
    ) -> PagedList[ModelVersion]:
        """
        One page of the model versions matching an MLflow filter string (e.g. ``"name='m' AND run_id='abc'"``),
        oldest first unless ``order_by`` says otherwise; the list's ``token`` is the next page's (None on the last).
        """
        return self.stores.registry.search_model_versions(filter_string, max_results, list(order_by), page_token)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """One page of the registered models matching ``filter_string``."""
        return self.stores.registry.search_registered_models(
            filter_string, max_results, list(order_by) or None, page_token
        )

    def create_registered_model(self, name: str) -> RegisteredModel:
        """Create registered model ``name`` (MLflow's RESOURCE_ALREADY_EXISTS when it exists)."""
        return self.stores.registry.create_registered_model(name)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        model_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Register a version of ``name`` from ``source`` with ``tags``, in one request (it may still be pending)."""
        from mlflow.entities.model_registry import ModelVersionTag

        version_tags = [ModelVersionTag(key, str(value)) for key, value in (tags or {}).items()]
        return self.stores.registry.create_model_version(name, source, run_id, version_tags, model_id=model_id)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        """Set (create or overwrite) one tag on a model version: one request, nothing read first."""
        if self.registry_rest is not None:
            return self.registry_rest.set_model_version_tag(name, str(version), key, str(value))
        from mlflow.entities.model_registry import ModelVersionTag

        self.stores.registry.set_model_version_tag(name, str(version), ModelVersionTag(key, str(value)))

    def set_model_version_tags(self, name: str, version: str | int, tags: Mapping[str, str]) -> None:
        """Set several tags on a model version, one request each, in ``tags``' order."""
        for key, value in tags.items():
            self.set_model_version_tag(name, version, key, value)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        """Delete one tag of a model version (the runbook's replay of a lost announcement)."""
        self.stores.registry.delete_model_version_tag(name, str(version), key)

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``name@alias`` at ``version``."""
        self.stores.registry.set_registered_model_alias(name, alias, str(version))

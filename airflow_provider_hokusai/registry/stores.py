"""
The MLflow stores of an ``mlflow`` connection, built from MLflow's public store classes, nothing process-wide.

Over http(s), ``mlflow.store.tracking.rest_store.RestStore`` and ``mlflow.store.model_registry.rest_store.RestStore``
get a callable returning the connection's own ``MlflowHostCreds`` (:meth:`MLflowSettings.host_creds`): two
connections with different credentials live side by side in one process, and no ``MLFLOW_TRACKING_*`` variable is
read for a connection that has credentials or written for any. Local URIs (``sqlite:///...``, other SQLAlchemy
databases, ``file:``) open MLflow's SQLAlchemy or file stores, which need the full ``mlflow`` package (the
``mlflow-skinny`` client has no SQLAlchemy); they hold no credentials, so one store per URI is shared by the process.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_hokusai.exceptions import InvalidConfigurationError
from airflow_provider_hokusai.registry.connection import REMOTE_SCHEMES

if TYPE_CHECKING:
    from mlflow.utils.rest_utils import MlflowHostCreds

    from airflow_provider_hokusai.registry.connection import MLflowSettings

__all__ = [
    "DATABASE_SCHEMES",
    "DEFAULT_ARTIFACT_ROOT",
    "MLflowStores",
    "open_stores",
    "with_credentials",
]

#: SQLAlchemy dialects MLflow's database stores accept (``mlflow.store.db.db_types``), with or without a driver.
DATABASE_SCHEMES = frozenset({"sqlite", "postgresql", "mysql", "mssql"})
#: Where a local tracking store puts artifacts when the connection names no ``artifact_location`` (MLflow's default).
DEFAULT_ARTIFACT_ROOT = "./mlruns"
_LOCAL_NEEDS_FULL_MLFLOW = "a local store needs the full 'mlflow' package (pip install mlflow), not mlflow-skinny"
_UNSUPPORTED = "must be an http(s), SQLAlchemy database (sqlite:///..., postgresql://...) or file: URI"


class MLflowStores(NamedTuple):
    """The tracking store and the model registry store of one connection."""

    tracking: Any
    registry: Any


def _kind(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    if scheme in REMOTE_SCHEMES:
        return "rest"
    if scheme.split("+")[0] in DATABASE_SCHEMES:
        return "database"
    if scheme in ("file", ""):
        return "file"
    return "unsupported"


@lru_cache(maxsize=32)
def _local_tracking_store(kind: str, uri: str, artifact_root: str) -> Any:
    if kind == "database":
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        return SqlAlchemyStore(uri, artifact_root)
    from mlflow.store.tracking.file_store import FileStore

    return FileStore(uri, uri)


@lru_cache(maxsize=32)
def _local_registry_store(kind: str, uri: str) -> Any:
    if kind == "database":
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

        return SqlAlchemyStore(uri)
    from mlflow.store.model_registry.file_store import FileStore

    return FileStore(uri)


def _field(settings: MLflowSettings, registry: bool) -> str:
    if registry and settings.extra.registry_uri:
        return "extra.registry_uri"
    return "extra.tracking_uri" if settings.extra.tracking_uri else "host"


def _store(settings: MLflowSettings, uri: str, registry: bool) -> Any:
    kind = _kind(uri)
    if kind == "rest":
        if registry:
            from mlflow.store.model_registry.rest_store import RestStore as RegistryRestStore

            return RegistryRestStore(partial(settings.host_creds, uri))
        from mlflow.store.tracking.rest_store import RestStore as TrackingRestStore

        return TrackingRestStore(partial(settings.host_creds, uri))
    if kind == "unsupported":
        raise InvalidConfigurationError([(_field(settings, registry), _UNSUPPORTED)], subject="mlflow connection")
    try:
        if registry:
            return _local_registry_store(kind, uri)
        return _local_tracking_store(kind, uri, settings.extra.artifact_location or DEFAULT_ARTIFACT_ROOT)
    except ImportError:
        raise InvalidConfigurationError(
            [(_field(settings, registry), _LOCAL_NEEDS_FULL_MLFLOW)], subject="mlflow connection"
        ) from None


def open_stores(settings: MLflowSettings) -> MLflowStores:
    """
    The connection's tracking and registry stores.

    :raises InvalidConfigurationError: naming the field whose URI no MLflow store opens (or needs the full
        ``mlflow`` package).
    """
    return MLflowStores(_store(settings, settings.tracking_uri, False), _store(settings, settings.registry_uri, True))


def with_credentials(repo: Any, host_creds: Callable[[str], MlflowHostCreds]) -> Any:
    """
    ``repo`` sending ``host_creds(uri)`` for each request when it is an HTTP artifact repository (the tracking
    server's ``mlflow-artifacts:/`` proxy included); any other repository as it is.
    """
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    if not isinstance(repo, HttpArtifactRepository):
        return repo

    class _Credentialed(type(repo)):  # type: ignore[misc]
        @property
        def _host_creds(self) -> MlflowHostCreds:
            return host_creds(self.artifact_uri)

        @property
        def _artifact_server_host_creds(self) -> MlflowHostCreds:
            # MlflowArtifactsRepository's probe of the server's capabilities, at the server's root.
            root, _, _ = self.artifact_uri.partition("/api/2.0/mlflow-artifacts/artifacts")
            return host_creds(root.rstrip("/"))

    repo.__class__ = _Credentialed
    return repo

"""
The ``mlflow`` connection type: its UI form, declared once, and how a connection is read into settings.

The form is used by ``get_provider_info`` (Airflow 3 reads it from there without importing the hook) and by
``MLflowHook.get_ui_field_behaviour`` (older readers). The settings are a pydantic model, so a bad connection
fails with :class:`~airflow_provider_hokusai.exceptions.InvalidConfigurationError` naming every field
(``host``, ``extra.scheme``...). Neither Airflow nor MLflow is imported at module level.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from mlflow import MlflowClient
    from mlflow.utils.rest_utils import MlflowHostCreds

__all__ = [
    "REMOTE_SCHEMES",
    "MLflowExtra",
    "MLflowSettings",
    "Text",
    "provider_connection_type",
    "redact_uri",
    "ui_field_behaviour",
]

CONN_TYPE = "mlflow"
REMOTE_SCHEMES = ("http", "https")

RELABELING = {
    "host": "Host or tracking URI",
    "schema": "Path prefix",
    "login": "Username (basic auth)",
    "password": "Password, or token when no username",
}
PLACEHOLDERS = {
    "host": "127.0.0.1 or sqlite:////abs/path/mlflow.db",
    "port": "5000",
    "extra": '{"scheme": "https", "registry_uri": "...", "ui_url": "..."}',
}


def _text_field(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"]}}


#: The extra keys the form shows (Airflow saves them in ``extra``, possibly with the ``extra__mlflow__`` prefix).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "scheme": {
        "label": "Scheme",
        "description": "http or https, when Host is a host name.",
        "schema": {"type": ["string", "null"], "default": "http", "enum": ["http", "https"]},
    },
    "tracking_uri": _text_field(
        "Tracking URI", "Full tracking URI, overrides Host (e.g. sqlite:////abs/path/mlflow.db)."
    ),
    "registry_uri": _text_field("Registry URI", "Model registry URI; defaults to the tracking URI."),
    "ui_url": _text_field("UI URL", "Base URL of the MLflow UI for links; defaults to an http(s) tracking URI."),
    "artifact_location": _text_field(
        "Artifact location", "Where experiments created through the hook keep their artifacts."
    ),
    "insecure_tls": {
        "label": "Skip TLS verification",
        "description": "Testing only.",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
}


def ui_field_behaviour() -> dict[str, Any]:
    """The form in the shape of ``BaseHook.get_ui_field_behaviour``."""
    return {"hidden_fields": [], "relabeling": dict(RELABELING), "placeholders": dict(PLACEHOLDERS)}


def provider_connection_type() -> dict[str, Any]:
    """The form as the ``connection-types`` entry of ``get_provider_info``."""
    return {
        "hook-class-name": "airflow_provider_hokusai.hooks.mlflow.MLflowHook",
        "hook-name": "MLflow",
        "connection-type": CONN_TYPE,
        "ui-field-behaviour": {"hidden-fields": [], "relabeling": dict(RELABELING), "placeholders": dict(PLACEHOLDERS)},
        "conn-fields": {key: dict(field) for key, field in CONN_FIELDS.items()},
    }


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


def _stripped(value: Any) -> Any:
    # Form fields are saved as "" when left empty; that means "not set", like an absent key.
    text = str(value).strip() if value is not None else ""
    return text or None


Text = Annotated[str | None, BeforeValidator(_stripped)]


class MLflowExtra(BaseModel):
    """The connection's extra; keys of other tools are ignored."""

    model_config = ConfigDict(frozen=True)

    tracking_uri: Text = None
    scheme: Annotated[Literal["http", "https"], BeforeValidator(lambda v: str(v).lower())] = "http"
    registry_uri: Text = None
    ui_url: Text = None
    artifact_location: Text = None
    insecure_tls: bool = False


class MLflowSettings(BaseModel):
    """
    An ``mlflow`` connection, read. The tracking URI is, first match wins: extra ``tracking_uri``; ``host`` holding
    a full URI (``sqlite:``, ``file:``, ``http(s)://``); else ``<scheme>://<host>[:<port>][/<schema>]``.
    """

    model_config = ConfigDict(frozen=True, validate_default=True)

    extra: MLflowExtra
    host: Text = None
    port: int | None = None
    path: Text = None
    login: Annotated[str | None, BeforeValidator(lambda v: v or None)] = None
    password: Annotated[str | None, BeforeValidator(lambda v: v or None), Field(repr=False)] = None

    @field_validator("host")
    @classmethod
    def _somewhere(cls, value: str | None, info: ValidationInfo) -> str | None:
        extra = info.data.get("extra")  # absent when the extra is invalid, which is reported on its own
        if extra is not None and not extra.tracking_uri and not value:
            raise ValueError("must be set (a host name or a full tracking URI)")
        return value

    @classmethod
    def of(cls, conn: Connection) -> MLflowSettings:
        """
        Read ``conn``.

        :raises InvalidConfigurationError: naming every field that breaks a rule.
        """
        # Imported here: get_provider_info imports this module while Airflow itself is still being imported.
        from airflow_provider_hokusai.exceptions import InvalidConfigurationError
        from airflow_provider_hokusai.utils.validation import validate

        # Form fields may be saved with the legacy "extra__mlflow__" prefix; plain keys win.
        raw = conn.extra_dejson
        extra = {k.removeprefix(f"extra__{CONN_TYPE}__"): v for k, v in raw.items() if v not in (None, "")}
        extra |= {k: v for k, v in raw.items() if not k.startswith("extra__") and v not in (None, "")}
        data = {"extra": extra, "host": conn.host, "port": conn.port, "path": conn.schema}
        return validate(
            cls,
            data | {"login": conn.login, "password": conn.password},
            InvalidConfigurationError,
            subject="mlflow connection",
        )

    @property
    def tracking_uri(self) -> str:
        """The tracking URI the client talks to."""
        host = self.host or ""
        if self.extra.tracking_uri:
            return self.extra.tracking_uri
        if "://" in host or host.startswith(("sqlite:", "file:")):
            return host
        netloc = f"{host}:{self.port}" if self.port else host
        path = f"/{self.path.strip('/')}" if self.path and self.path.strip("/") else ""
        return f"{self.extra.scheme}://{netloc}{path}"

    @property
    def registry_uri(self) -> str:
        """The model registry URI (the tracking URI unless the connection says otherwise)."""
        return self.extra.registry_uri or self.tracking_uri

    @property
    def ui_url(self) -> str | None:
        """Base URL of the MLflow UI: extra ``ui_url``, else an http(s) tracking URI, else None."""
        if self.extra.ui_url:
            return self.extra.ui_url.rstrip("/")
        remote = urlsplit(self.tracking_uri).scheme in REMOTE_SCHEMES
        return redact_uri(self.tracking_uri).rstrip("/") if remote else None

    def host_creds(self, uri: str) -> MlflowHostCreds:
        """The connection's credentials for ``uri``: basic auth with a login, else the password as bearer token."""
        from mlflow.utils.rest_utils import MlflowHostCreds

        login, password = self.login, self.password
        return MlflowHostCreds(
            host=uri,
            username=login if login and password else None,
            password=password if login and password else None,
            token=password if password and not login else None,
            ignore_tls_verification=self.extra.insecure_tls,
        )

    def artifacts_with_credentials(self, repo: Any) -> Any:
        """
        A copy of the artifact repository ``repo`` that sends these credentials, when it talks HTTP to the tracking
        server (MLflow's own reads them from ``MLFLOW_TRACKING_*`` variables); any other repository as it is.
        """
        from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

        if not isinstance(repo, HttpArtifactRepository):
            return repo
        host_creds = self.host_creds

        class _Credentialed(type(repo)):  # type: ignore[misc]
            @property
            def _host_creds(self) -> MlflowHostCreds:
                return host_creds(self.artifact_uri)

        # A copy: MLflow caches the original per run for every client of the process.
        credentialed = copy.copy(repo)
        credentialed.__class__ = _Credentialed
        return credentialed

    def bind_credentials(self, client: MlflowClient) -> None:
        """Give ``client`` REST stores that carry these credentials, leaving process-wide state alone."""
        from mlflow.store.model_registry.rest_store import RestStore as RegistryRestStore
        from mlflow.store.tracking.rest_store import RestStore as TrackingRestStore
        from mlflow.tracking._model_registry.client import ModelRegistryClient
        from mlflow.tracking._tracking_service.client import TrackingServiceClient

        tracking_uri, registry_uri = self.tracking_uri, self.registry_uri
        settings = self
        if urlsplit(tracking_uri).scheme in REMOTE_SCHEMES:
            tracking_store = TrackingRestStore(lambda: self.host_creds(tracking_uri))

            class _TrackingClient(TrackingServiceClient):
                @property
                def store(self) -> Any:
                    return tracking_store

                def _get_artifact_repo(self, resource_id: str, **kwargs: Any) -> Any:
                    # Artifacts served by the tracking server (mlflow-artifacts:/, http) with these credentials too.
                    return settings.artifacts_with_credentials(super()._get_artifact_repo(resource_id, **kwargs))

            client._tracking_client = _TrackingClient(tracking_uri)
        if urlsplit(registry_uri).scheme in REMOTE_SCHEMES:
            registry_store = RegistryRestStore(lambda: self.host_creds(registry_uri))

            class _RegistryClient(ModelRegistryClient):
                @property
                def store(self) -> Any:
                    return registry_store

            # MlflowClient builds its registry client lazily into this attribute; pre-seeding it is the only way
            # to hand it a store without going through the process-wide store registry.
            setattr(client, "_registry_client_lazy", _RegistryClient(registry_uri, tracking_uri))  # noqa: B010

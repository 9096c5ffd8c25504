"""
The ``mlflow`` connection type: its UI form, declared once, and how a connection is read into settings.

The form is used by ``get_provider_info`` (Airflow 3 reads it from there without importing the hook) and by
``MLflowHook.get_ui_field_behaviour`` (older readers). The settings are a pydantic model, so a bad connection
fails with :class:`~airflow_provider_hokusai.exceptions.InvalidConfigurationError` naming every field
(``host``, ``extra.scheme``...). Neither Airflow nor MLflow is imported at module level.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from mlflow.utils.rest_utils import MlflowHostCreds

__all__ = [
    "DEFAULT_CONN_ID",
    "REMOTE_SCHEMES",
    "HttpAuth",
    "MLflowExtra",
    "MLflowSettings",
    "Text",
    "is_remote",
    "provider_connection_type",
    "redact_uri",
    "ui_field_behaviour",
]

_CONN_TYPE = "mlflow"
#: The ``mlflow`` connection the hook, the operators and the sensor use when none is named.
DEFAULT_CONN_ID = "mlflow_default"
REMOTE_SCHEMES = ("http", "https")


def is_remote(uri: str) -> bool:
    """Whether ``uri`` is reached over http(s) (else a local store the hook opens)."""
    return urlsplit(uri).scheme in REMOTE_SCHEMES


_RELABELING = {
    "host": "Host or tracking URI",
    "schema": "Path prefix",
    "login": "Username (basic auth)",
    "password": "Password, or token when no username",
}
_PLACEHOLDERS = {
    "host": "127.0.0.1 or sqlite:////abs/path/mlflow.db",
    "port": "5000",
    "extra": '{"scheme": "https", "registry_uri": "...", "ui_url": "..."}',
}


def _text_field(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"]}}


#: The extra keys the form shows (Airflow saves them in ``extra``, possibly with the ``extra__mlflow__`` prefix).
_CONN_FIELDS: dict[str, dict[str, Any]] = {
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
    return {"hidden_fields": [], "relabeling": dict(_RELABELING), "placeholders": dict(_PLACEHOLDERS)}


def provider_connection_type() -> dict[str, Any]:
    """The form as the ``connection-types`` entry of ``get_provider_info``."""
    return {
        "hook-class-name": "airflow_provider_hokusai.hooks.mlflow.MLflowHook",
        "hook-name": "MLflow",
        "connection-type": _CONN_TYPE,
        "ui-field-behaviour": {
            "hidden-fields": [],
            "relabeling": dict(_RELABELING),
            "placeholders": dict(_PLACEHOLDERS),
        },
        "conn-fields": {key: dict(field) for key, field in _CONN_FIELDS.items()},
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


#: Where MLflow's client alone knows how to sign a request: an auth plugin, AWS SigV4, its credentials file.
_MLFLOW_ONLY_AUTH = ("MLFLOW_TRACKING_AUTH", "MLFLOW_TRACKING_AWS_SIGV4")
_MLFLOW_CREDENTIALS_FILE = Path("~/.mlflow/credentials")


class HttpAuth(NamedTuple):
    """
    What a request to an http(s) MLflow server carries, as MLflow's ``MlflowHostCreds`` says it, without MLflow.

    :param basic: ``(username, password)`` of HTTP basic auth.
    :param token: A bearer token.
    :param verify: ``requests``' ``verify``: False to skip TLS verification, or a CA bundle's path.
    :param cert: A client certificate's path.
    """

    basic: tuple[str, str] | None = None
    token: str | None = None
    verify: bool | str = True
    cert: str | None = None


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
        extra = {k.removeprefix(f"extra__{_CONN_TYPE}__"): v for k, v in raw.items() if v not in (None, "")}
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
        """The tracking URI the hook talks to."""
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
        return redact_uri(self.tracking_uri).rstrip("/") if is_remote(self.tracking_uri) else None

    def http_auth(self, environ: Mapping[str, str] = os.environ) -> HttpAuth | None:
        """
        The credentials of an http(s) request, read as :meth:`host_creds` reads them but without importing MLflow:
        the connection's own, else MLflow's ``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD`` / ``_TOKEN`` /
        ``_INSECURE_TLS`` / ``_SERVER_CERT_PATH`` / ``_CLIENT_CERT_PATH``. None when only MLflow's client can sign the
        request (``MLFLOW_TRACKING_AUTH``, ``MLFLOW_TRACKING_AWS_SIGV4``, or ``~/.mlflow/credentials``).
        """
        if self.password:
            basic = (self.login, self.password) if self.login else None
            return HttpAuth(basic, None if self.login else self.password, not self.extra.insecure_tls)
        if any(environ.get(name) for name in _MLFLOW_ONLY_AUTH) or _MLFLOW_CREDENTIALS_FILE.expanduser().exists():
            return None
        username, secret = environ.get("MLFLOW_TRACKING_USERNAME"), environ.get("MLFLOW_TRACKING_PASSWORD")
        insecure = environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("true", "1")
        return HttpAuth(
            (username, secret) if username and secret else None,
            environ.get("MLFLOW_TRACKING_TOKEN") or None,
            False if insecure else environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or True,
            environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None,
        )

    def host_creds(self, uri: str) -> MlflowHostCreds:
        """
        The credentials of a request to ``uri``: the connection's own (basic auth with a login, else the password as
        bearer token); MLflow's defaults for ``uri`` (``mlflow.utils.credentials.get_default_host_creds``) when the
        connection has none.
        """
        from mlflow.utils.rest_utils import MlflowHostCreds

        if not self.password:
            from mlflow.utils.credentials import get_default_host_creds

            return get_default_host_creds(uri)
        login, password = self.login, self.password
        return MlflowHostCreds(
            host=uri,
            username=login if login else None,
            password=password if login else None,
            token=password if not login else None,
            ignore_tls_verification=self.extra.insecure_tls,
        )

"""MLflowHook: connection parsing, credentials scoped to the hook's client, test_connection.

Credentials are checked against a real HTTP server on loopback that answers the two MLflow REST calls
test_connection makes and records the Authorization header of every request.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airflow_provider_hokusai.exceptions import InvalidConfigurationError, InvalidInputError
from airflow_provider_hokusai.hooks.mlflow import MLflowHook, parse_model_uri, redact_uri
from airflow_provider_hokusai.registry.connection import HttpAuth
from tests.fixtures.ports import free_port

TOKEN = "s3cr3t-token-value"
PASSWORD = "s3cr3t-password-value"


class Recorder(ThreadingHTTPServer):
    auth_headers: list[str | None]


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        self.server.auth_headers.append(self.headers.get("Authorization"))
        body = {"experiments": []} if "experiments" in self.path else {"registered_models": []}
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder(("127.0.0.1", free_port()), _Handler)
    server.auth_headers = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def hook_for(monkeypatch: pytest.MonkeyPatch, conn: str | dict) -> MLflowHook:
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_TEST", conn if isinstance(conn, str) else json.dumps(conn))
    return MLflowHook(mlflow_conn_id="mlflow_test")


def test_metadata_and_no_io_in_init() -> None:
    assert (MLflowHook.conn_type, MLflowHook.hook_name) == ("mlflow", "MLflow")
    assert (MLflowHook.conn_name_attr, MLflowHook.default_conn_name) == ("mlflow_conn_id", "mlflow_default")
    # The connection does not exist: constructing must not look it up.
    assert MLflowHook(mlflow_conn_id="does_not_exist").mlflow_conn_id == "does_not_exist"
    assert set(MLflowHook.get_ui_field_behaviour()) >= {"hidden_fields", "relabeling"}


@pytest.mark.parametrize(
    ("conn", "tracking_uri", "ui_url"),
    [
        ("mlflow://127.0.0.1:5000", "http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("mlflow://mlflow.example:443/?scheme=https", "https://mlflow.example:443", "https://mlflow.example:443"),
        ("mlflow://127.0.0.1:5000/prefix", "http://127.0.0.1:5000/prefix", "http://127.0.0.1:5000/prefix"),
        ({"conn_type": "mlflow", "host": "sqlite:////tmp/x/mlflow.db"}, "sqlite:////tmp/x/mlflow.db", None),
        (
            {"conn_type": "mlflow", "extra": {"tracking_uri": "sqlite:////tmp/y.db", "ui_url": "http://ui:1/"}},
            "sqlite:////tmp/y.db",
            "http://ui:1",
        ),
        ({"conn_type": "mlflow", "host": "http://127.0.0.1:5001"}, "http://127.0.0.1:5001", "http://127.0.0.1:5001"),
        (
            {
                "conn_type": "mlflow",
                "host": "h",
                "extra": {"extra__mlflow__scheme": "https", "extra__mlflow__ui_url": ""},
            },
            "https://h",
            "https://h",
        ),
    ],
)
def test_tracking_uri_forms(
    monkeypatch: pytest.MonkeyPatch, conn: str | dict, tracking_uri: str, ui_url: str | None
) -> None:
    hook = hook_for(monkeypatch, conn)
    assert hook.tracking_uri == tracking_uri
    assert hook.registry_uri == tracking_uri
    assert hook.ui_url == ui_url


def test_registry_uri_and_model_version_url(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = hook_for(monkeypatch, "mlflow://127.0.0.1:5000?registry_uri=http%3A%2F%2F127.0.0.1%3A5002")
    assert hook.registry_uri == "http://127.0.0.1:5002"
    assert hook.model_version_url("my model/a", 3) == "http://127.0.0.1:5000/#/models/my%20model%2Fa/versions/3"
    local = hook_for(monkeypatch, {"conn_type": "mlflow", "host": "sqlite:////tmp/z.db"})
    assert local.model_version_url("m", 1) is None


@pytest.mark.parametrize(
    ("conn", "field"),
    [
        ({"conn_type": "mlflow"}, "host"),
        ({"conn_type": "mlflow", "host": "127.0.0.1", "extra": {"scheme": "ftp"}}, "extra.scheme"),
    ],
)
def test_bad_connection_is_a_typed_error(monkeypatch: pytest.MonkeyPatch, conn: dict, field: str) -> None:
    with pytest.raises(InvalidConfigurationError) as exc:
        _ = hook_for(monkeypatch, conn).tracking_uri
    assert exc.value.fields == [field]


def test_token_reaches_the_server_but_not_the_process(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    port = recorder.server_address[1]
    environ_before = dict(os.environ)
    hook = hook_for(monkeypatch, f"mlflow://:{TOKEN}@127.0.0.1:{port}")

    ok, message = hook.test_connection()

    assert ok, message
    assert recorder.auth_headers == [f"Bearer {TOKEN}"] * 2
    assert {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_MLFLOW_TEST"} == {
        k: v for k, v in environ_before.items() if k != "AIRFLOW_CONN_MLFLOW_TEST"
    }
    # Any other client of the process, to the same server, carries no credentials.
    MlflowClient(tracking_uri=f"http://127.0.0.1:{port}").search_experiments(max_results=1)
    assert recorder.auth_headers[-1] is None
    captured = capsys.readouterr()
    assert TOKEN not in message + captured.out + captured.err


def test_basic_auth_reaches_the_server(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> None:
    port = recorder.server_address[1]
    hook = hook_for(monkeypatch, f"mlflow://alice:{PASSWORD}@127.0.0.1:{port}")
    assert hook.test_connection()[0]
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert recorder.auth_headers == [expected] * 2


def test_stores_are_cached(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> None:
    hook = hook_for(monkeypatch, f"mlflow://127.0.0.1:{recorder.server_address[1]}")
    assert hook.get_conn() is hook.stores is hook.stores
    assert hook.test_connection()[0]
    assert recorder.auth_headers == [None, None]


def test_connection_failure_is_reported_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    hook = hook_for(monkeypatch, f"mlflow://:{TOKEN}@127.0.0.1:{free_port()}")
    ok, message = hook.test_connection()
    assert not ok
    assert "not usable" in message
    assert TOKEN not in message


def test_redact_uri() -> None:
    assert redact_uri("http://u:p@h:1/x") == "http://***@h:1/x"
    assert redact_uri("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_parse_model_uri() -> None:
    assert parse_model_uri("runs:/abc/model") == ("abc", None)
    assert parse_model_uri("models:/m-0123abc") == (None, "m-0123abc")
    for bad in ("models:/name/1", "runs:/abc", "s3://b/k", ""):
        with pytest.raises(InvalidInputError):
            parse_model_uri(bad)


def test_the_connection_form_is_declared_once_with_every_extra() -> None:
    from airflow_provider_hokusai.get_provider_info import get_provider_info
    from airflow_provider_hokusai.registry.connection import MLflowExtra

    (declared,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == MLflowHook.conn_type]
    behaviour = MLflowHook.get_ui_field_behaviour()
    assert declared["connection-type"] == MLflowHook.conn_type
    assert declared["hook-class-name"] == f"{MLflowHook.__module__}.{MLflowHook.__qualname__}"
    assert declared["ui-field-behaviour"] == {
        "hidden-fields": behaviour["hidden_fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }
    # Every extra the hook reads has a field in the form, artifact_location included.
    assert set(declared["conn-fields"]) == set(MLflowExtra.model_fields) >= {"artifact_location"}


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("true", True), (True, True)])
def test_insecure_tls_is_read_as_a_boolean(monkeypatch: pytest.MonkeyPatch, value: object, expected: bool) -> None:
    hook = hook_for(monkeypatch, {"conn_type": "mlflow", "host": "h", "extra": {"insecure_tls": value}})
    assert hook.settings.extra.insecure_tls is expected


def test_every_bad_connection_field_is_named_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "mlflow", "password": TOKEN, "extra": {"scheme": "ftp", "insecure_tls": "maybe"}}
    with pytest.raises(InvalidConfigurationError) as exc:
        _ = hook_for(monkeypatch, conn).tracking_uri
    assert exc.value.fields == ["extra.scheme", "extra.insecure_tls"]
    assert TOKEN not in str(exc.value)
    assert TOKEN not in repr(hook_for(monkeypatch, {"conn_type": "mlflow", "host": "h", "password": TOKEN}).settings)


def test_undefined_connection_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidConfigurationError) as exc:
        _ = MLflowHook(mlflow_conn_id="no_such_mlflow_conn").tracking_uri
    assert exc.value.fields == ["mlflow_conn_id"]


@pytest.mark.parametrize(
    ("conn", "environ", "expected"),
    [
        ("mlflow://alice:pw@h:5000", {"MLFLOW_TRACKING_TOKEN": "env"}, HttpAuth(("alice", "pw"), None, True)),
        (
            {"conn_type": "mlflow", "host": "h", "password": "tok", "extra": {"insecure_tls": True}},
            {},
            HttpAuth(None, "tok", False),
        ),
        ("mlflow://h:5000", {}, HttpAuth()),
        (
            "mlflow://h:5000",
            {
                "MLFLOW_TRACKING_USERNAME": "bob",
                "MLFLOW_TRACKING_PASSWORD": "pw",
                "MLFLOW_TRACKING_SERVER_CERT_PATH": "/ca.pem",
                "MLFLOW_TRACKING_CLIENT_CERT_PATH": "/me.pem",
            },
            HttpAuth(("bob", "pw"), None, "/ca.pem", "/me.pem"),
        ),
        (
            "mlflow://h:5000",
            {"MLFLOW_TRACKING_TOKEN": "t", "MLFLOW_TRACKING_INSECURE_TLS": "true"},
            HttpAuth(None, "t", False),
        ),
        ("mlflow://h:5000", {"MLFLOW_TRACKING_AUTH": "my_plugin"}, None),
        ("mlflow://h:5000", {"MLFLOW_TRACKING_AWS_SIGV4": "true"}, None),
    ],
)
def test_http_auth_is_what_mlflow_client_would_send(
    monkeypatch: pytest.MonkeyPatch, conn: str | dict, environ: dict[str, str], expected: HttpAuth | None
) -> None:
    """The connection's credentials first, else MLflow's variables; None where only MLflow's client can sign."""
    monkeypatch.setenv("HOME", "/nonexistent-home")  # no ~/.mlflow/credentials
    assert hook_for(monkeypatch, conn).settings.http_auth(environ) == expected


def test_an_mlflow_credentials_file_leaves_signing_to_mlflow_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".mlflow").mkdir()
    (tmp_path / ".mlflow" / "credentials").write_text("[mlflow]\nmlflow_tracking_username = a\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hook_for(monkeypatch, "mlflow://h:5000").settings.http_auth({}) is None

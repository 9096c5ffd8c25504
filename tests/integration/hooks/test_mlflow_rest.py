"""
The registry calls on an announcement's path, over MLflow's REST API without MLflow's client, on a real
``mlflow server``: what they read (as ``MlflowClient`` reads it), what MLflow's errors become, the one retry layer,
and that a whole announcement in a fresh process loads no ``mlflow`` module.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.hooks.mlflow_rest import MLflowRestClient
from airflow_provider_hokusai.registry.connection import HttpAuth
from airflow_provider_hokusai.registry.errors import is_not_found
from hokusai_testkit.mlflow import MLflowServer, registered_version, validated_tags

pytestmark = pytest.mark.integration


def test_a_version_reads_as_mlflow_client_reads_it(mlflow_conn: MLflowServer) -> None:
    from mlflow import MlflowClient

    name, version, _ = registered_version(mlflow_conn.url, validated_tags(), "hokusai-rest")
    client = MlflowClient(tracking_uri=mlflow_conn.url, registry_uri=mlflow_conn.url)
    client.set_registered_model_alias(name, "champion", version)
    theirs = client.get_model_version(name, version)

    ours = MLflowHook().get_model_version(name, version)

    assert ours.name == theirs.name and ours.version == theirs.version
    assert (ours.status, ours.run_id, ours.source) == (theirs.status, theirs.run_id, theirs.source)
    assert (ours.creation_timestamp, dict(ours.tags), ours.aliases) == (
        theirs.creation_timestamp,
        theirs.tags,
        theirs.aliases,
    )
    assert MLflowHook().get_model_version_by_alias(name, "champion") == ours


def test_tags_are_written_one_request_each_and_read_back(mlflow_conn: MLflowServer) -> None:
    name, version, _ = registered_version(mlflow_conn.url, validated_tags(), "hokusai-rest")
    hook = MLflowHook()

    hook.set_model_version_tags(name, version, {"hokusai_a": "1", "hokusai_b": "two words"})

    assert hook.get_model_version(name, version).tags == {
        **validated_tags(),
        "hokusai_a": "1",
        "hokusai_b": "two words",
    }


def test_mlflow_errors_keep_their_code_and_no_url(mlflow_conn: MLflowServer) -> None:
    with pytest.raises(requests.HTTPError) as missing:
        MLflowHook().get_model_version("hokusai-no-such-model", "1")
    assert is_not_found(missing.value)
    assert "RESOURCE_DOES_NOT_EXIST" in str(missing.value) and "http" not in str(missing.value)

    with pytest.raises(requests.HTTPError) as alias:
        MLflowHook().get_model_version_by_alias("hokusai-no-such-model", "champion")
    assert is_not_found(alias.value)


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then MLflow's answer to a version read."""

    failures = 0
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        failed = len(self.seen) <= self.failures
        body = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}' if failed else b'{"model_version": {}}'
        self.send_response(503 if failed else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[str, type[_Flaky]]]:
    handler = type("Handler", (_Flaky,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_transient_answers_are_retried_in_the_session_as_mlflow_settings_say(
    flaky: tuple[str, type[_Flaky]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = flaky
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    handler.failures = 2

    assert MLflowRestClient(url, HttpAuth()).get_model_version("m", "1") == {}
    assert len(handler.seen) == 3

    handler.seen.clear()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    with pytest.raises(requests.HTTPError) as exc:
        MLflowRestClient(url, HttpAuth()).get_model_version("m", "1")
    assert exc.value.response.status_code == 503 and "TEMPORARILY_UNAVAILABLE" in str(exc.value)
    assert len(handler.seen) == 2

    handler.seen.clear()
    with pytest.raises(requests.HTTPError):
        MLflowRestClient(url, HttpAuth(), max_retries=0).get_model_version("m", "1")
    assert len(handler.seen) == 1


ANNOUNCE = """
import json, sys
from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer, VersionRef
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.hooks.queue import get_queue_hook

result = ModelReadyAnnouncer(MLflowHook(), get_queue_hook(sys.argv[1])).announce(VersionRef(sys.argv[2], sys.argv[3]))
print(json.dumps({"outcome": result.outcome, "mlflow": sorted(m for m in sys.modules if m.split(".")[0] == "mlflow")}))
"""


def test_an_announcement_in_a_fresh_process_loads_no_mlflow_module(
    mlflow_conn: MLflowServer, redis_queue_conn: str
) -> None:
    name, version, _ = registered_version(mlflow_conn.url, validated_tags(), "hokusai-rest")

    done = subprocess.run(
        [sys.executable, "-c", ANNOUNCE, redis_queue_conn, name, version],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert json.loads(done.stdout.splitlines()[-1]) == {"outcome": "published", "mlflow": []}

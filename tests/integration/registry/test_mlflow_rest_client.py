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
from airflow_provider_hokusai.registry.connection import HttpAuth
from airflow_provider_hokusai.registry.errors import is_not_found
from airflow_provider_hokusai.registry.rest import MLflowRestClient
from hokusai_testkit.mlflow import MLflowServer, create_run, registered_version, unique, validated_tags

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


def test_runs_and_experiments_read_as_mlflow_client_reads_them(mlflow_conn: MLflowServer) -> None:
    from mlflow import MlflowClient

    name = unique("hokusai-rest-runs")
    run_id = create_run(mlflow_conn.url, name, metrics={"accuracy": 0.9}, tags={"team": "risk"})
    other = create_run(mlflow_conn.url, name, metrics={"accuracy": 0.8}, status=None)
    theirs = MlflowClient(tracking_uri=mlflow_conn.url).get_run(run_id)
    hook = MLflowHook()

    experiment = hook.get_experiment_by_name(name)
    assert experiment is not None and experiment == hook.get_experiment(experiment.experiment_id)
    assert (experiment.experiment_id, experiment.name) == (theirs.info.experiment_id, name)
    assert hook.get_experiment_by_name(unique("hokusai-rest-none")) is None
    run = hook.get_run(run_id)
    assert (run.info.run_id, run.info.status, run.info.experiment_id) == (run_id, "FINISHED", experiment.experiment_id)
    assert (run.data.metrics, run.data.params, run.data.tags) == (
        theirs.data.metrics,
        theirs.data.params,
        theirs.data.tags,
    )
    best_first = ["metrics.accuracy DESC"]
    page = hook.search_runs([experiment.experiment_id], order_by=best_first, max_results=1)
    assert (list(page), page.token is not None) == ([run], True)
    following = hook.search_runs([experiment.experiment_id], order_by=best_first, max_results=1, page_token=page.token)
    assert [r.info.run_id for r in following] == [other] and following[0].info.status == "RUNNING"
    assert len(hook.search_experiments(max_results=1)) == 1


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
        body = (
            b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}'
            if failed
            else b'{"model_version": {"name": "m", "version": "1"}}'
        )
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

    assert MLflowRestClient(url, HttpAuth()).get_model_version("m", "1").version == "1"
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


GATE = """
import json, sys
from airflow_provider_hokusai.gate.baseline import BaselineCriteria
from airflow_provider_hokusai.gate.check import check_baseline
from airflow_provider_hokusai.hooks.mlflow import MLflowHook

criteria = BaselineCriteria(run_id=sys.argv[1], metric_name="accuracy", baseline_model_name=sys.argv[2],
                            baseline_alias="champion")
check = check_baseline(MLflowHook(), criteria)
evidence = check.evidence.model_dump(mode="json") if check.evidence else None
print(json.dumps({"status": check.status, "evidence": evidence,
                  "mlflow": sorted(m for m in sys.modules if m.split(".")[0] == "mlflow")}))
"""


def test_a_gate_on_a_run_against_a_champion_alias_loads_no_mlflow_module(mlflow_conn: MLflowServer) -> None:
    from mlflow import MlflowClient

    champion, version, _ = registered_version(mlflow_conn.url, {}, "hokusai-rest-champion")  # accuracy 0.95
    MlflowClient(tracking_uri=mlflow_conn.url).set_registered_model_alias(champion, "champion", version)
    candidate = create_run(mlflow_conn.url, unique("hokusai-rest-gate"), metrics={"accuracy": 0.97})

    done = subprocess.run(
        [sys.executable, "-c", GATE, candidate, champion], capture_output=True, text=True, timeout=120, check=True
    )

    seen = json.loads(done.stdout.splitlines()[-1])
    assert (seen["status"], seen["mlflow"]) == ("success", [])
    assert (seen["evidence"]["baseline_value"], seen["evidence"]["current_value"]) == (0.95, 0.97)
    assert seen["evidence"]["run_id"] == candidate


TRIGGER = """
import asyncio, json, sys
from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger

async def first_event():
    criteria = {"run_id": sys.argv[1], "metric_name": "accuracy", "baseline_value": 0.9}
    async for event in MLflowBaselineTrigger(criteria=criteria, poll_interval=1.0).run():
        return event.payload

payload = asyncio.run(first_event())
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "mlflow")
print(json.dumps({"status": payload["status"], "mlflow": loaded}))
"""


def test_a_deferred_gate_in_a_fresh_triggerer_process_loads_no_mlflow_module(mlflow_conn: MLflowServer) -> None:
    candidate = create_run(mlflow_conn.url, unique("hokusai-rest-trigger"), metrics={"accuracy": 0.95})

    done = subprocess.run(
        [sys.executable, "-c", TRIGGER, candidate], capture_output=True, text=True, timeout=120, check=True
    )

    assert json.loads(done.stdout.splitlines()[-1]) == {"status": "success", "mlflow": []}


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

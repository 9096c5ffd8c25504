"""
MLflow registry webhooks end to end, on real servers: an ``mlflow server`` (``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS``)
whose webhook ``hokusai-webhook setup`` configured, the provider's receiver (the plugin's apps mounted as Airflow
mounts them, served by uvicorn) recording asset events in the session's Airflow metadata database, a real
redis-server, and the example DAGs run for real with ``dag.test()``.

A manual ``dag.test()`` run has no triggering asset events, so the events the receiver recorded are handed to the
DAG through its ``versions`` param, read back from the database; that the scheduler would have started the DAG on
them is shown by the asset's queue entry (``AssetDagRunQueue``) for the unpaused DAG.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.registry import events as wh
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from tests.fixtures.mlflow import MLflowServer, create_run, running_mlflow_server, unique
from tests.fixtures.ports import free_port, wait_for_port
from tests.fixtures.redis import RedisProcess

pytestmark = [pytest.mark.system, pytest.mark.usefixtures("airflow_db")]

SECRET = "hokusai-webhook-secret-0f3c9a77d1"
OLD_SECRET = "hokusai-webhook-old-secret-11aa42"
EVENTS_DAG, DISCOVERY_DAG = "hokusai_registry_events", "hokusai_registry_discovery"
PROVIDER_DAGS = "hokusai_provider_dags.py"
REDIS_LIST = "hokusai:model_ready_queue"
CONN_ENV = "AIRFLOW_CONN_HOKUSAI_MLFLOW_WEBHOOK"
WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    # MLflow accepts https webhook URLs only, unless told otherwise; the loopback receiver speaks http.
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
}


@dataclass
class Receiver:
    url: str  # the API server's base URL


def sync_dags_folder() -> None:
    """Parse the DAGs folder into the metadata database (as the DAG processor would) and unpause the events DAG."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == EVENTS_DAG).values(is_paused=False))


def recorded() -> list[dict[str, Any]]:
    """Extras of every asset event on ``hokusai_model_version_registered``, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == wh.MODEL_VERSION_ASSET)
            .order_by(AssetEvent.id)
        )
        return [dict(extra) for extra in session.scalars(query)]


def queued_for_events_dag() -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return int(session.scalar(select(func.count()).where(AssetDagRunQueue.target_dag_id == EVENTS_DAG)) or 0)


def wait_for_events(model_name: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in recorded() if e.get("model_name") == model_name]
        if len(found) >= count:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{count} event(s) for {model_name} not recorded within {timeout}s: {recorded()[-5:]}")


@pytest.fixture(scope="module")
def webhook_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-webhooks"), env=WEBHOOK_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def receiver(airflow_db: Any) -> Iterator[Receiver]:
    """The plugin's apps, mounted in ``HokusaiPlugin.fastapi_apps`` order on one app, served by uvicorn."""
    import uvicorn
    from fastapi import FastAPI

    from airflow_provider_hokusai.plugins.plugin import HokusaiPlugin

    previous = os.environ.get(CONN_ENV)
    conn = {"conn_type": "generic", "password": SECRET, "extra": {"previous_secrets": [OLD_SECRET]}}
    os.environ[CONN_ENV] = json.dumps(conn)
    sync_dags_folder()
    root = FastAPI()
    for mount in HokusaiPlugin.fastapi_apps:  # as airflow.api_fastapi.app.init_plugins mounts them
        root.mount(mount["url_prefix"], mount["app"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="webhook-uvicorn", daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield Receiver(url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        if previous is None:
            os.environ.pop(CONN_ENV, None)
        else:
            os.environ[CONN_ENV] = previous


@pytest.fixture
def stack(
    webhook_mlflow: MLflowServer, receiver: Receiver, redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MLflowServer, Receiver, RedisProcess]]:
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools

    redis_server.client().flushall()
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", webhook_mlflow.conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_QUEUE", redis_server.conn_json())
    yield webhook_mlflow, receiver, redis_server
    close_shared_pools()


@pytest.fixture
def webhook(stack: tuple[MLflowServer, Receiver, RedisProcess], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``hokusai-webhook setup`` run against the stack: the MLflow webhook exists, active, and was tested."""
    from airflow_provider_hokusai.cli.webhook import main

    assert main(["setup", "--api-url", stack[1].url]) == 0
    return dict(json.loads(capsys.readouterr().out))


def register(server: MLflowServer, metric: float, version_tags: dict[str, str]) -> tuple[str, str]:
    """A version registered from plain MLflow code: a finished run with ``accuracy``, a version with the tags."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    run_id = create_run(server.url, unique("webhook-exp"), metrics={"accuracy": metric})
    name = unique("webhook-model")
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=version_tags)
    return name, str(version.version)


def upstream_tags(token: str = "HKW", benchmark: str = "0.9") -> dict[str, str]:
    """What the platform's ``register_tokenized_model`` writes, and nothing else."""
    return {t.TOKEN_ID: token, t.BENCHMARK_METRIC: "accuracy", t.BENCHMARK_VALUE: benchmark}


def run_dag(dag_id: str, conf: dict[str, Any]) -> Any:
    """Run one of the provider's DAGs, from the repository's one-line DAG file (docs/installation.md)."""
    from scripts.dagrun import run_dag_test

    return run_dag_test(PROVIDER_DAGS, run_conf=conf, dag_id=dag_id)


def version_tags(server: MLflowServer, name: str, version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    return dict(MlflowClient(tracking_uri=server.url, registry_uri=server.url).get_model_version(name, version).tags)


# The setup command


def test_setup_creates_then_updates_the_webhook_and_its_test_records_nothing(
    webhook: dict[str, Any], stack: tuple[MLflowServer, Receiver, RedisProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_hokusai.cli.webhook import main

    assert webhook["url"] == f"{stack[1].url}/hokusai/webhooks/mlflow"
    assert webhook["test"]["success"] is True and webhook["test"]["response_status"] == 202
    before = len(recorded())
    assert main(["setup", "--api-url", stack[1].url]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["action"], again["webhook_id"]) == ("updated", webhook["webhook_id"])
    assert len(recorded()) == before
    assert SECRET not in json.dumps(again)


# Registered anywhere → announced once


def test_a_version_registered_with_the_upstream_tags_is_announced_exactly_once(
    webhook: dict[str, Any], stack: tuple[MLflowServer, Receiver, RedisProcess]
) -> None:
    server, _, redis = stack
    name, version = register(server, 0.95, upstream_tags())
    (created,) = wait_for_events(name, 1)
    assert {k: created[k] for k in ("model_name", "version", "event")} == {
        "model_name": name,
        "version": version,
        "event": "model_version.created",
    }
    assert queued_for_events_dag() >= 1  # the scheduler would start hokusai_registry_events on it

    first = run_dag(EVENTS_DAG, {"versions": [created]})
    assert first.succeeded, first.states
    (outcome,) = first.returns["announce_registered_versions"]
    assert outcome["outcome"] == "published", outcome
    bodies = redis.client().lrange(REDIS_LIST, 0, -1)
    assert len(bodies) == 1
    message = ModelReadyToDeployMessage.from_json(bodies[0])
    assert (message.model_name, message.model_version, message.token_symbol) == (name, version, "HKW")
    assert message.baseline_value == 0.9 and message.current_value == 0.95
    written = version_tags(server, name, version)
    assert written[t.STATUS] == t.STATUS_VALIDATED
    assert written[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert receipt_from_tags(written)["message_id"] == message.message_id

    # The same version's tags set again: a new verified event, a new run, nothing new on the queue.
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=server.url, registry_uri=server.url).set_model_version_tag(
        name, version, t.TOKEN_ID, "HKW"
    )
    events = wait_for_events(name, 2)
    assert events[-1]["event"] == "model_version_tag.set"
    again = run_dag(EVENTS_DAG, {"versions": events[1:]})
    assert again.succeeded, again.states
    assert [o["outcome"] for o in again.returns["announce_registered_versions"]] == ["already_published"]
    assert redis.client().llen(REDIS_LIST) == 1


def test_a_version_that_misses_its_baseline_is_tagged_failed_and_not_announced(
    webhook: dict[str, Any], stack: tuple[MLflowServer, Receiver, RedisProcess]
) -> None:
    server, _, redis = stack
    name, version = register(server, 0.85, upstream_tags())
    events = wait_for_events(name, 1)

    result = run_dag(EVENTS_DAG, {"versions": events})
    assert result.succeeded, result.states
    (outcome,) = result.returns["announce_registered_versions"]
    assert outcome["outcome"] == "failed"
    assert redis.client().llen(REDIS_LIST) == 0
    written = version_tags(server, name, version)
    assert written[t.STATUS] == t.STATUS_FAILED
    assert "does not beat baseline 0.9" in written[t.VALIDATION_ERROR]
    assert t.ANNOUNCEMENT_STATUS not in written


def test_a_version_without_the_upstream_tags_is_skipped(
    webhook: dict[str, Any], stack: tuple[MLflowServer, Receiver, RedisProcess]
) -> None:
    server, _, redis = stack
    name, version = register(server, 0.99, {"team": "research"})
    events = wait_for_events(name, 1)
    result = run_dag(EVENTS_DAG, {"versions": events})
    (outcome,) = result.returns["announce_registered_versions"]
    assert (outcome["outcome"], outcome["reason"]) == ("skipped", f"not a Hokusai candidate: no {t.TOKEN_ID} tag")
    assert t.STATUS not in version_tags(server, name, version)
    assert redis.client().llen(REDIS_LIST) == 0


# Refused deliveries: nothing recorded, nothing published


def _delivery(body: bytes, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    delivery_id = str(uuid.uuid4())
    stamp = str(int(time.time()) if ts is None else ts)
    return {
        "Content-Type": "application/json",
        wh.SIGNATURE_HEADER: wh.sign(secret, delivery_id, stamp, body),
        wh.DELIVERY_ID_HEADER: delivery_id,
        wh.TIMESTAMP_HEADER: stamp,
    }


def _created(name: str) -> bytes:
    data = {"name": name, "version": "1", "source": "s", "run_id": None, "tags": {}, "description": None}
    return json.dumps({"entity": "model_version", "action": "created", "timestamp": "t", "data": data}).encode()


REFUSALS = {
    "forged signature": lambda body: {**_delivery(body), wh.SIGNATURE_HEADER: "v1," + "A" * 43 + "="},
    "wrong secret": lambda body: _delivery(body, secret="not-the-configured-secret-123"),
    "stale timestamp": lambda body: _delivery(body, ts=int(time.time()) - wh.TOLERANCE_SECONDS - 5),
    "missing signature": lambda body: {k: v for k, v in _delivery(body).items() if k != wh.SIGNATURE_HEADER},
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unauthenticated_deliveries_are_401(
    case: str, stack: tuple[MLflowServer, Receiver, RedisProcess], caplog: pytest.LogCaptureFixture
) -> None:
    _, receiver, redis = stack
    body = _created(unique("refused"))
    before = len(recorded())
    sent = REFUSALS[case](body)
    with caplog.at_level("DEBUG"):
        answer = httpx.post(f"{receiver.url}/hokusai/webhooks/mlflow", content=body, headers=sent)
    assert answer.status_code == 401, answer.text
    assert "refused (401)" in caplog.text
    presented = sent.get(wh.SIGNATURE_HEADER, "v1,").split(",", 1)[1]
    for text in (answer.text, caplog.text):
        assert SECRET not in text and OLD_SECRET not in text
        assert not presented or presented not in text
    assert len(recorded()) == before
    assert redis.client().llen(REDIS_LIST) == 0


def test_malformed_and_oversized_bodies_are_refused(stack: tuple[MLflowServer, Receiver, RedisProcess]) -> None:
    _, receiver, redis = stack
    url = f"{receiver.url}/hokusai/webhooks/mlflow"
    before = len(recorded())
    not_json = b"<xml>not json</xml>"
    assert httpx.post(url, content=not_json, headers=_delivery(not_json)).status_code == 400
    huge = b"{" + b" " * wh.MAX_BODY_BYTES + b"}"
    assert httpx.post(url, content=huge, headers=_delivery(huge)).status_code == 413
    assert len(recorded()) == before
    assert redis.client().llen(REDIS_LIST) == 0


def test_a_replayed_delivery_is_409_on_any_worker(stack: tuple[MLflowServer, Receiver, RedisProcess]) -> None:
    from fastapi.testclient import TestClient

    from airflow_provider_hokusai.plugins._webhook_app import create_app

    _, receiver, redis = stack
    body = _created(unique("replayed"))
    sent = _delivery(body)
    url = f"{receiver.url}/hokusai/webhooks/mlflow"
    assert httpx.post(url, content=body, headers=sent).status_code == 200
    count = len(recorded())
    assert httpx.post(url, content=body, headers=sent).status_code == 409
    # Another API server worker: its own process memory, the same metadata database.
    other_worker = TestClient(create_app())
    assert other_worker.post("/mlflow", content=body, headers=sent).status_code == 409
    # Signed with the previous secret (a rotation in progress), a new delivery is accepted.
    rotated = _delivery(body, secret=OLD_SECRET)
    assert httpx.post(url, content=body, headers=rotated).status_code == 200
    assert len(recorded()) == count + 1
    assert redis.client().llen(REDIS_LIST) == 0


# Without webhooks: discovery


def test_with_webhooks_off_discovery_announces_within_one_period(
    webhook: dict[str, Any], stack: tuple[MLflowServer, Receiver, RedisProcess]
) -> None:
    from datetime import timedelta

    from mlflow import MlflowClient

    from scripts.dagrun import load_dag

    server, _, redis = stack
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    client.update_webhook(webhook["webhook_id"], status="DISABLED")
    try:
        name, version = register(server, 0.95, upstream_tags(token="HKD"))
        time.sleep(3)
        assert not [e for e in recorded() if e.get("model_name") == name]

        assert load_dag(PROVIDER_DAGS, DISCOVERY_DAG).schedule == timedelta(minutes=10)
        result = run_dag(DISCOVERY_DAG, {})
        assert result.succeeded, result.states
        mine = [o for o in result.returns["discover_and_announce"]["outcomes"] if o["model_name"] == name]
        assert [o["outcome"] for o in mine] == ["published"]
        (body,) = redis.client().lrange(REDIS_LIST, 0, -1)
        message = ModelReadyToDeployMessage.from_json(body)
        assert (message.model_name, message.model_version, message.token_symbol) == (name, version, "HKD")

        # The next period finds nothing left to do for it.
        again = run_dag(DISCOVERY_DAG, {})
        assert not [o for o in again.returns["discover_and_announce"]["outcomes"] if o["model_name"] == name]
        assert redis.client().llen(REDIS_LIST) == 1
    finally:
        client.update_webhook(webhook["webhook_id"], status="ACTIVE")

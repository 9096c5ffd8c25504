"""Exactly once under adversity, on a real mlflow server, redis-server and moto: the failures of issue 11 (1-4, 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest

from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer, VersionRef
from airflow_provider_hokusai.announcement.reconcile import find_unannounced, reconcile
from airflow_provider_hokusai.exceptions import QueuePublishError, RegistryUnavailableError
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.hooks.redis import RedisQueueHook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, message_id_for
from airflow_provider_hokusai.operators.model_ready import ReconcileAnnouncementsOperator
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from hokusai_testkit.mlflow import MLflowServer, create_run, registered_version, unique, validated_tags
from hokusai_testkit.ports import free_port
from hokusai_testkit.redis import RedisProcess
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

QUEUE = "hokusai:model_ready_queue"


def announcer(redis_conn_id: str) -> ModelReadyAnnouncer:
    return ModelReadyAnnouncer(MLflowHook(), get_queue_hook(redis_conn_id))


def queued(redis_server: RedisProcess) -> list[ModelReadyToDeployMessage]:
    return [ModelReadyToDeployMessage.from_json(b) for b in redis_server.client().lrange(QUEUE, 0, -1)]


def client(mlflow_conn: MLflowServer) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_conn.url, registry_uri=mlflow_conn.url)


def register_versions(mlflow_conn: MLflowServer, prefix: str, tags: list[dict[str, str]]) -> str:
    """A fresh registered model with one version per entry of ``tags`` (v1, v2, ...), all from one finished run."""
    mlflow = client(mlflow_conn)
    name = unique(prefix)
    run_id = create_run(mlflow_conn.url, unique(f"{prefix}-exp"), metrics={"accuracy": 0.95})
    mlflow.create_registered_model(name)
    for version_tags in tags:
        mlflow.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=version_tags)
    return name


def test_1_every_spelling_of_a_version_is_one_identity(
    mlflow_conn: MLflowServer, redis_queue_conn: str, redis_server: RedisProcess
) -> None:
    """Two workers race on version 1, one spelling it "01": both read it before either records a receipt."""
    name, version, _ = registered_version(mlflow_conn.url, validated_tags(), "identity")
    assert version == "1"
    racing: list[Any] = []

    class RacingHook(RedisQueueHook):
        """Worker A ("01"): worker B (" 1") announces the same version while A is publishing."""

        def _send(self, messages: Sequence[Any], bodies: Sequence[str], now: str) -> list[Any]:
            racing.append(announcer(redis_queue_conn).announce(VersionRef(name, " 1")))
            return super()._send(messages, bodies, now)

    first = ModelReadyAnnouncer(MLflowHook(), RacingHook(redis_conn_id=redis_queue_conn)).announce(
        VersionRef(name, "01")
    )
    later = [announcer(redis_queue_conn).announce(VersionRef(name, spelled)) for spelled in ("+1", "1")]

    results = [first, *racing, *later]
    assert {r.model_version for r in results} == {"1"}
    assert {r.receipt["message_id"] for r in results if r.receipt} == {message_id_for(name, "1")}
    assert [m.message_id for m in queued(redis_server)] == [message_id_for(name, "1")]
    assert [m.model_version for m in queued(redis_server)] == ["1"]


def test_2_a_failure_never_overwrites_a_published_receipt(
    mlflow_conn: MLflowServer, redis_queue_conn: str, redis_server: RedisProcess
) -> None:
    name, version, _ = registered_version(mlflow_conn.url, validated_tags(), "monotonic")

    class RacingHook(RedisQueueHook):
        """Worker A: it read the version before worker B published it, then its own publish fails."""

        def _send(self, messages: Sequence[Any], bodies: Sequence[str], now: str) -> list[Any]:
            announcer(redis_queue_conn).announce(VersionRef(name, version))  # worker B, all the way
            raise QueuePublishError("broker went away")

    worker_a = ModelReadyAnnouncer(MLflowHook(), RacingHook(redis_conn_id=redis_queue_conn))
    with pytest.raises(QueuePublishError):
        worker_a.announce(VersionRef(name, version))

    version_tags = client(mlflow_conn).get_model_version(name, version).tags
    assert receipt_from_tags(version_tags) is not None
    assert version_tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    summary = reconcile(announcer(redis_queue_conn), registered_model_name=name)
    assert (summary["found"], summary["published"]) == (0, 0)
    assert len(queued(redis_server)) == 1


def test_3_a_half_failed_batch_records_each_entry(
    mlflow_conn: MLflowServer, redis_queue_conn: str, redis_server: RedisProcess
) -> None:
    """One entry of a Redis pipeline refused (its dedup marker key holds a list): the others keep their receipts."""
    mlflow = client(mlflow_conn)
    name = register_versions(mlflow_conn, "batch-model", [validated_tags()] * 3)
    hook = get_queue_hook(redis_queue_conn)
    assert isinstance(hook, RedisQueueHook)
    poisoned = hook.dedup_key(message_id_for(name, "2"))
    redis_server.client().lpush(poisoned, "not a marker")

    first = reconcile(announcer(redis_queue_conn), registered_model_name=name)
    assert (first["found"], first["published"], [f["model_version"] for f in first["failed"]]) == (3, 2, ["2"])
    assert "WRONGTYPE" in first["failed"][0]["error"]
    assert {m.model_version for m in queued(redis_server)} == {"1", "3"}
    statuses = {v: mlflow.get_model_version(name, v).tags[t.ANNOUNCEMENT_STATUS] for v in ("1", "2", "3")}
    assert statuses == {"1": "published", "2": "failed", "3": "published"}

    redis_server.client().delete(poisoned)
    second = reconcile(announcer(redis_queue_conn), registered_model_name=name)
    assert (second["found"], second["published"], second["failed"]) == (1, 1, [])
    assert sorted(m.model_version for m in queued(redis_server)) == ["1", "2", "3"]


def test_3_sqs_batch_split_across_calls_keeps_the_taken_half(
    mlflow_conn: MLflowServer, sqs_queues: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """12 versions, two SendMessageBatch calls, the endpoint dead after the first: 10 receipts, 2 failures, no copy."""
    from bench.tcp_proxy import ProxyProcess

    name = register_versions(mlflow_conn, "sqs-batch-model", [validated_tags()] * 12)
    port = free_port()
    proxy = ProxyProcess(port, sqs_queues.server.port)
    proxy.start()
    conn = json.loads(os.environ[f"AIRFLOW_CONN_{sqs_queues.conn_id.upper()}"])
    conn["extra"]["endpoint_url"] = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AIRFLOW_CONN_PROXIED_SQS", json.dumps(conn))
    try:
        from airflow_provider_hokusai.queue.retry import RetryPolicy

        hook = get_queue_hook("proxied_sqs", queue_name=sqs_queues.standard_url, retry=RetryPolicy(attempts=1))
        hook.get_conn().meta.events.register("after-call.sqs.SendMessageBatch", lambda **_: proxy.kill())
        first = reconcile(ModelReadyAnnouncer(MLflowHook(), hook), registered_model_name=name)
        assert (first["found"], first["published"], len(first["failed"])) == (12, 10, 2)
    finally:
        proxy.kill()

    second = reconcile(announcer_for_sqs(sqs_queues), registered_model_name=name)
    assert (second["found"], second["published"], second["failed"]) == (2, 2, [])
    bodies = [ModelReadyToDeployMessage.from_json(m["Body"]) for m in sqs_queues.drain(sqs_queues.standard_url, 3)]
    assert sorted(int(m.model_version) for m in bodies) == list(range(1, 13))


def announcer_for_sqs(sqs_queues: Any) -> ModelReadyAnnouncer:
    return ModelReadyAnnouncer(MLflowHook(), get_queue_hook(sqs_queues.conn_id, queue_name=sqs_queues.standard_url))


def test_4_reconciliation_finds_the_oldest_owed_version_past_1100_announced_ones(
    mlflow_conn: MLflowServer, redis_queue_conn: str, redis_server: RedisProcess
) -> None:
    receipt = {
        t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_PUBLISHED,
        t.ANNOUNCEMENT_MESSAGE_ID: "earlier",
        t.ANNOUNCED_AT: "2026-01-01T00:00:00.000000Z",
    }
    # v1 is owed its announcement; a quote in the name, which MLflow's filter syntax cannot escape.
    name = register_versions(mlflow_conn, "it's-a-model", [validated_tags()] + [validated_tags(**receipt)] * 1100)

    owed = find_unannounced(MLflowHook(), registered_model_name=name)
    assert ([r.model_version for r in owed.refs], owed.truncated) == (["1"], False)
    summary = reconcile(announcer(redis_queue_conn), registered_model_name=name)
    assert (summary["found"], summary["published"], summary["truncated"]) == (1, 1, False)
    assert [(m.model_name, m.model_version) for m in queued(redis_server)] == [(name, "1")]


def test_4_a_bounded_run_says_it_stopped(mlflow_conn: MLflowServer, redis_queue_conn: str) -> None:
    name = register_versions(mlflow_conn, "bounded-model", [validated_tags()] * 3)
    operator = ReconcileAnnouncementsOperator(
        task_id="reconcile", queue_conn_id=redis_queue_conn, registered_model_name=name, max_versions=2
    )
    summary = operator.execute({})  # type: ignore[arg-type]
    assert (summary["found"], summary["published"], summary["truncated"]) == (2, 2, True)
    assert reconcile(announcer(redis_queue_conn), registered_model_name=name)["truncated"] is False


SECRET = "s3cret-Tr4cking-pw"


@pytest.fixture
def unreachable_mlflow(monkeypatch: pytest.MonkeyPatch) -> str:
    """An ``mlflow`` connection whose tracking URI carries credentials and points at a closed port."""
    uri = f"http://hokusai:{SECRET}@127.0.0.1:{free_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "mlflow", "host": uri}))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    return uri


def test_6_unreachable_registry_is_typed_and_redacted_everywhere(
    unreachable_mlflow: str, redis_queue_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    operator = ReconcileAnnouncementsOperator(task_id="reconcile", queue_conn_id=redis_queue_conn)
    with pytest.raises(RegistryUnavailableError) as info:
        operator.execute({})  # type: ignore[arg-type]
    assert SECRET not in str(info.value)

    ok, text = MLflowHook().test_connection()
    assert ok is False
    assert SECRET not in text

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cli = subprocess.run(
        [sys.executable, "-m", "airflow_provider_hokusai.cli.reconcile", "--queue-conn-id", redis_queue_conn],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert cli.returncode == 2, cli.stderr[-2000:]
    assert "RegistryUnavailableError" in cli.stderr
    assert "Traceback" not in cli.stderr
    assert SECRET not in cli.stderr + cli.stdout
    assert SECRET not in caplog.text

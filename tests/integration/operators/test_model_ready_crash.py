"""
A worker killed between publish and receipt, then a retry and a reconciliation: exactly one message, and the
version ends with its receipt. Real processes throughout: the worker is a Python subprocess that SIGKILLs itself
right after the broker acknowledged the message (before MLflow hears of it), against a real ``mlflow server``,
a real redis-server and moto SQS.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
from airflow_provider_hokusai.announcement.reconcile import reconcile as run_reconcile
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, message_id_for
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from tests.conftest import REPO_ROOT
from tests.fixtures.mlflow import MLflowServer, RecordingTI, registered_version, validated_tags
from tests.fixtures.sqs import SqsQueues

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

# The worker: the operator as Airflow would run it, except that recording the receipt kills the process outright
# (SIGKILL: no finally blocks, no atexit, no flush), i.e. after the broker took the message and before MLflow did.
WORKER = """
import os, signal, sys
from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator

def die(self, ref, receipt, *_):
    print("published", receipt.message_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

ModelReadyAnnouncer._record_receipt = die

class TI:
    def xcom_push(self, key, value):
        pass

op = PublishModelReadyOperator(
    task_id="announce", model_name=sys.argv[1], model_version=sys.argv[2], queue_conn_id=sys.argv[3],
    queue_name=sys.argv[4] or None,
)
op.execute({"ti": TI()})
print("receipt recorded", flush=True)
"""


def validated_version(server: MLflowServer) -> tuple[str, str]:
    """A registered version with the evidence RegisterModelOperator writes."""
    name, version, run_id = registered_version(server.url, {}, "hokusai-crash")
    MLflowHook().set_model_version_tags(name, version, validated_tags(**{t.CURRENT_VALUE: "0.93", t.RUN_ID: run_id}))
    return name, version


def run_to_death(worker: str, name: str, version: str, conn_id: str, queue: str = "") -> str:
    """Run ``worker`` until it SIGKILLs itself, before its receipt is recorded; returns what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", worker, name, version, conn_id, queue],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        timeout=180,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    assert "receipt recorded" not in done.stdout
    return done.stdout


def crash_worker(name: str, version: str, conn_id: str, queue: str = "") -> str:
    """Run the worker to its death; returns the message id it published."""
    stdout = run_to_death(WORKER, name, version, conn_id, queue)
    published = [line for line in stdout.splitlines() if line.startswith("published ")]
    assert len(published) == 1, stdout
    return published[0].split()[1]


def version_tags(name: str, version: str) -> dict[str, str]:
    return dict(MLflowHook().get_model_version(name, version).tags)


def retry(name: str, version: str, conn_id: str, queue: str | None = None) -> dict[str, Any]:
    op = PublishModelReadyOperator(
        task_id="announce", model_name=name, model_version=version, queue_conn_id=conn_id, queue_name=queue
    )
    return op.execute({"ti": RecordingTI()})  # type: ignore[arg-type]


def reconcile(name: str, conn_id: str, queue: str | None = None) -> dict[str, Any]:
    announcer = ModelReadyAnnouncer(MLflowHook(), get_queue_hook(conn_id, queue_name=queue))
    return run_reconcile(announcer, registered_model_name=name)


def assert_receipt(name: str, version: str, message_id: str) -> None:
    tags = version_tags(name, version)
    assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert receipt_from_tags(tags)["message_id"] == message_id


def redis_bodies(redis_server: Any) -> list[bytes]:
    bodies: list[bytes] = redis_server.client().lrange("hokusai:model_ready_queue", 0, -1)
    return bodies


@pytest.mark.parametrize("recovery", ["retry_then_reconcile", "reconcile_only"])
def test_redis_crash_between_publish_and_receipt(
    recovery: str, mlflow_conn: MLflowServer, redis_queue_conn: str, redis_server: Any
) -> None:
    name, version = validated_version(mlflow_conn)
    message_id = crash_worker(name, version, redis_queue_conn)

    assert message_id == message_id_for(name, version)
    assert len(redis_bodies(redis_server)) == 1
    assert version_tags(name, version).get(t.ANNOUNCEMENT_STATUS) != t.ANNOUNCEMENT_PUBLISHED

    if recovery == "retry_then_reconcile":
        result = retry(name, version, redis_queue_conn)
        assert result["outcome"] == "published"
        assert result["receipt"]["duplicate"] is True  # absorbed by the dedup marker, nothing pushed
        assert reconcile(name, redis_queue_conn)["found"] == 0
    else:
        summary = reconcile(name, redis_queue_conn)
        assert (summary["found"], summary["published"], summary["failed"]) == (1, 1, [])
        assert summary["results"][0]["receipt"]["duplicate"] is True

    bodies = redis_bodies(redis_server)
    assert len(bodies) == 1
    assert ModelReadyToDeployMessage.from_json(bodies[0]).message_id == message_id
    assert_receipt(name, version, message_id)
    # And a later run of the task publishes nothing at all.
    assert retry(name, version, redis_queue_conn)["outcome"] == "already_published"
    assert len(redis_bodies(redis_server)) == 1


@pytest.mark.parametrize("fifo", [True, False], ids=["fifo", "standard"])
def test_sqs_crash_between_publish_and_receipt(fifo: bool, mlflow_conn: MLflowServer, sqs_queues: SqsQueues) -> None:
    url = sqs_queues.fifo_url if fifo else sqs_queues.standard_url
    name, version = validated_version(mlflow_conn)
    message_id = crash_worker(name, version, sqs_queues.conn_id, url)

    assert retry(name, version, sqs_queues.conn_id, url)["outcome"] == "published"
    assert reconcile(name, sqs_queues.conn_id, url)["found"] == 0
    assert_receipt(name, version, message_id)

    messages = sqs_queues.drain(url, min_polls=5)
    ids = [json.loads(m["Body"])["tags"]["message_id"] for m in messages]
    assert {m["MessageAttributes"]["message_id"]["StringValue"] for m in messages} == {message_id}
    if fifo:
        # SQS FIFO drops the retry's copy: same MessageDeduplicationId within its 5-minute window.
        assert ids == [message_id]
    else:
        # A standard queue has no deduplication: the retry's copy arrives too, and the consumer spots it by id.
        assert ids == [message_id, message_id]


# The same worker, killed one request later: the receipt tag is in MLflow, the status tag never is.
WORKER_AFTER_RECEIPT = WORKER.replace(
    "ModelReadyAnnouncer._record_receipt = die",
    """from airflow_provider_hokusai.hooks.mlflow_stores import MLflowStoreHook
from airflow_provider_hokusai.registry import tags as t

set_tag = MLflowStoreHook.set_model_version_tag

def die_before_status(self, name, version, key, value):
    if key == t.ANNOUNCEMENT_STATUS and value == t.ANNOUNCEMENT_PUBLISHED:
        print("published", "receipt-only", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    set_tag(self, name, version, key, value)

MLflowStoreHook.set_model_version_tag = die_before_status""",
)


def crash_after_receipt(name: str, version: str, conn_id: str) -> dict[str, str]:
    """Run the worker to its death between the receipt tag and the status tag; returns the version's tags."""
    assert "published receipt-only" in run_to_death(WORKER_AFTER_RECEIPT, name, version, conn_id)
    tags = version_tags(name, version)
    assert receipt_from_tags(tags) is not None
    assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PENDING  # still in the pending index
    return tags


def pending_versions(name: str) -> list[str]:
    found = MLflowHook().search_model_versions(
        f"name = '{name}' AND tags.`{t.ANNOUNCEMENT_STATUS}` = '{t.ANNOUNCEMENT_PENDING}'", max_results=10
    )
    return [str(v.version) for v in found]


@pytest.mark.parametrize("recovery", ["retry", "reconcile"])
def test_a_crash_between_receipt_and_status_leaves_the_pending_index_on_the_next_look(
    recovery: str, mlflow_conn: MLflowServer, redis_queue_conn: str, redis_server: Any
) -> None:
    name, version = validated_version(mlflow_conn)
    crash_after_receipt(name, version, redis_queue_conn)
    assert pending_versions(name) == [version]

    if recovery == "retry":
        assert retry(name, version, redis_queue_conn)["outcome"] == "already_published"
    else:
        summary = reconcile(name, redis_queue_conn)
        assert (summary["found"], summary["published"], summary["settled"]) == (0, 0, 1)

    assert_receipt(name, version, message_id_for(name, version))
    assert pending_versions(name) == []
    # Settled once: the next reconciliation finds nothing to read, write or publish.
    assert reconcile(name, redis_queue_conn) | {"results": []} == {
        "found": 0,
        "published": 0,
        "failed": [],
        "results": [],
        "truncated": False,
        "settled": 0,
    }
    assert len(redis_bodies(redis_server)) == 1

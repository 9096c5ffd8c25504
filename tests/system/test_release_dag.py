"""The example release DAG, run for real with ``dag.test()`` against a real MLflow server, redis-server and moto SQS.

Each test gives the pipeline its own registered model and experiment (through the run's params), so the tests
share the session's servers without seeing each other's versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from tests.fixtures.mlflow import MLflowServer, log_sklearn_candidate, unique
from tests.fixtures.redis import RedisProcess
from tests.fixtures.sqs import SqsQueues

pytestmark = pytest.mark.usefixtures("airflow_db")

REDIS_LIST = "hokusai:model_ready_queue"
QUEUE_CONN_ENV = "AIRFLOW_CONN_HOKUSAI_QUEUE"
# The one-line DAG file of docs/installation.md: the provider's four DAGs, from the package.
PROVIDER_DAGS = "hokusai_provider_dags.py"
PROVIDER_DAG_IDS = (
    "hokusai_reconcile_announcements",
    "hokusai_announce_only",
    "hokusai_registry_events",
    "hokusai_registry_discovery",
)


@pytest.fixture
def release_conf() -> dict[str, Any]:
    """Params of one pipeline: its own model and experiment on the shared MLflow server."""
    return {
        "registered_model_name": unique("hokusai-system"),
        "experiment_name": unique("hokusai-system-exp"),
        "token_symbol": "hkbc",
    }


@pytest.fixture
def redis_release(
    mlflow_conn: MLflowServer, redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RedisProcess]:
    """The DAG's ``hokusai_queue`` connection on the session's (flushed) redis-server."""
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools

    redis_server.client().flushall()
    monkeypatch.setenv(QUEUE_CONN_ENV, redis_server.conn_json())
    yield redis_server
    close_shared_pools()


@pytest.fixture
def sqs_release(mlflow_conn: MLflowServer, sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch) -> SqsQueues:
    """The DAG's ``hokusai_queue`` connection on fresh moto SQS queues."""
    monkeypatch.setenv(QUEUE_CONN_ENV, sqs_queues.server.conn_json())
    return sqs_queues


def run_release(conf: dict[str, Any]) -> Any:
    from scripts.dagrun import run_dag_test

    return run_dag_test("hokusai_model_release.py", run_conf=conf)


def version_tags(model_name: str, version: str) -> dict[str, str]:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

    return dict(MLflowHook().get_model_version(model_name, version).tags or {})


def test_release_on_redis_announces_each_validated_version_once(
    release_conf: dict[str, Any], redis_release: RedisProcess
) -> None:
    first = run_release(release_conf)

    assert first.states == dict.fromkeys(("train", "validate", "register", "announce"), "success")
    client = redis_release.client()
    bodies = client.lrange(REDIS_LIST, 0, -1)
    assert len(bodies) == 1
    message = ModelReadyToDeployMessage.from_json(bodies[0])
    register = first.returns["register"]
    assert (message.model_name, message.model_version) == (register["model_name"], register["model_version"])
    assert message.mlflow_run_id == first.returns["train"]
    assert message.token_symbol == "HKBC"
    assert message.baseline_value == 0.9 and message.current_value > 0.9
    assert first.returns["announce"]["outcome"] == "published"
    assert first.returns["announce"]["receipt"]["message_id"] == message.message_id
    tags = version_tags(message.model_name, message.model_version)
    assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert receipt_from_tags(tags)["message_id"] == message.message_id

    # The same candidate released again: same version, existing receipt, nothing new on the queue.
    again = run_release({**release_conf, "candidate_run_id": first.returns["train"]})
    assert again.succeeded
    assert again.returns["register"]["model_version"] == register["model_version"]
    assert again.returns["announce"]["outcome"] == "already_published"
    assert client.llen(REDIS_LIST) == 1

    # A newly trained candidate is a new version, and gets its own message.
    second = run_release({**release_conf, "regularization_c": 0.5})
    assert second.succeeded
    newest = ModelReadyToDeployMessage.from_json(client.lindex(REDIS_LIST, 0))
    assert client.llen(REDIS_LIST) == 2
    assert newest.model_version == second.returns["register"]["model_version"] != register["model_version"]
    assert newest.model_id == message.model_id and newest.message_id != message.message_id


def test_release_on_fifo_sqs_delivers_the_contract_message(
    release_conf: dict[str, Any], sqs_release: SqsQueues
) -> None:
    result = run_release({**release_conf, "queue_name": sqs_release.fifo_url})

    assert result.succeeded, result.states
    received = sqs_release.drain(sqs_release.fifo_url)
    assert len(received) == 1
    message = ModelReadyToDeployMessage.from_json(received[0]["Body"])
    assert message.model_version == result.returns["register"]["model_version"]
    assert received[0]["MessageAttributes"]["message_id"]["StringValue"] == message.message_id
    assert result.returns["announce"]["receipt"]["broker_message_id"] == received[0]["MessageId"]


def test_release_waits_in_the_trigger_for_a_running_candidate(
    release_conf: dict[str, Any], redis_release: RedisProcess, mlflow_conn: MLflowServer
) -> None:
    from mlflow import MlflowClient

    # A candidate whose run is still RUNNING when the sensor first looks: the sensor must defer.
    candidate = log_sklearn_candidate(mlflow_conn.url, release_conf["experiment_name"], {"accuracy": 0.95})
    client = MlflowClient(tracking_uri=mlflow_conn.url)
    client.update_run(candidate.run_id, status="RUNNING")
    conf = {**release_conf, "candidate_run_id": candidate.run_id}
    # A fresh process with Airflow's default_deferrable on, as a deployment would set it. dag.test() rebuilds
    # MLflowBaselineTrigger from its serialized kwargs and runs it in line, then resumes the sensor with the event.
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.dagrun", "hokusai_model_release.py", "--conf", json.dumps(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"},
    )
    seen: list[str] = []
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        if "running trigger in line" in line:
            # Only now does training "finish": the trigger, not the sensor's first look, sees it.
            client.set_terminated(candidate.run_id, status="FINISHED")
            break
    stdout, rest = process.communicate(timeout=600)
    logs = "".join(seen) + rest

    assert process.returncode == 0, logs[-4000:]
    assert "running trigger in line" in logs
    result = json.loads(stdout)
    assert result["returns"]["validate"]["run_id"] == candidate.run_id
    assert result["returns"]["validate"]["current_value"] == 0.95
    bodies = redis_release.client().lrange(REDIS_LIST, 0, -1)
    assert len(bodies) == 1
    message = ModelReadyToDeployMessage.from_json(bodies[0])
    assert (message.mlflow_run_id, message.current_value) == (candidate.run_id, 0.95)


def test_model_that_misses_its_baseline_fails_the_sensor_and_sends_nothing(
    release_conf: dict[str, Any], redis_release: RedisProcess
) -> None:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

    result = run_release({**release_conf, "baseline_value": 0.999})

    assert result.states["train"] == "success"
    assert result.states["validate"] == "failed"
    assert result.states["register"] == result.states["announce"] == "upstream_failed"
    assert redis_release.client().llen(REDIS_LIST) == 0
    assert redis_release.client().keys("*") == []
    assert MLflowHook().search_model_versions(f"name = '{release_conf['registered_model_name']}'") == []


def test_failed_publish_is_tagged_and_reconciliation_announces_it_exactly_once(
    release_conf: dict[str, Any], sqs_release: SqsQueues, mlflow_conn: MLflowServer
) -> None:
    # The queue named in the run does not exist: registration succeeds, the announcement fails for good.
    result = run_release({**release_conf, "queue_name": "hokusai-no-such-queue.fifo"})

    assert result.states["register"] == "success"
    assert result.states["announce"] == "failed"
    model_name = release_conf["registered_model_name"]
    version = result.returns["register"]["model_version"]
    tags = version_tags(model_name, version)
    assert tags[t.STATUS] == t.STATUS_VALIDATED
    assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_FAILED
    assert "QueuePermanentError" in tags[t.ANNOUNCEMENT_ERROR]
    assert sqs_release.drain(sqs_release.fifo_url) == []

    # On call: list what is missing with the CLI, replay it, and run the replay again (it must be safe to repeat).
    def reconcile(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(Path(sys.executable).parent / "hokusai-reconcile"),
                "--queue-conn-id",
                "hokusai_queue",
                "--queue-name",
                sqs_release.fifo_url,
                "--model",
                model_name,
                *extra,
            ],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=300,
            check=False,
        )

    dry = reconcile("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["would_publish"] == [{"model_name": model_name, "model_version": version}]
    assert sqs_release.drain(sqs_release.fifo_url) == []

    # The reconciliation DAG replays it (ReconcileAnnouncementsOperator), then the CLI finds nothing left to do.
    from scripts.dagrun import run_dag_test

    healed = run_dag_test(
        PROVIDER_DAGS,
        run_conf={"queue_name": sqs_release.fifo_url, "registered_model_name": model_name},
        dag_id="hokusai_reconcile_announcements",
    )
    assert healed.succeeded, healed.states
    assert (healed.returns["reconcile"]["found"], healed.returns["reconcile"]["published"]) == (1, 1)
    second = reconcile()
    assert second.returncode == 0, second.stderr

    received = sqs_release.drain(sqs_release.fifo_url)
    assert len(received) == 1
    message = ModelReadyToDeployMessage.from_json(received[0]["Body"])
    assert (message.model_name, message.model_version) == (model_name, version)
    tags = version_tags(model_name, version)
    assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert receipt_from_tags(tags)["message_id"] == message.message_id
    assert tags[t.ANNOUNCEMENT_ERROR] == ""
    assert json.loads(second.stdout)["found"] == 0


@pytest.mark.parametrize(
    ("file_name", "dag_id"),
    [
        ("hokusai_model_release.py", None),
        *[(PROVIDER_DAGS, dag_id) for dag_id in PROVIDER_DAG_IDS],
    ],
)
def test_every_task_retries_with_backoff_times_out_and_notifies(file_name: str, dag_id: str | None) -> None:
    from airflow_provider_hokusai.notifications import HokusaiFailureNotifier
    from scripts.dagrun import load_dag

    dag = load_dag(file_name, dag_id)
    for task in dag.tasks:
        assert task.retries >= 1 and task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None, task.task_id
        assert any(isinstance(cb, HokusaiFailureNotifier) for cb in task.on_failure_callback or []), task.task_id


def test_release_deadline_alert_calls_back_into_the_package() -> None:
    from datetime import timedelta

    from scripts.dagrun import load_dag

    (alert,) = load_dag("hokusai_model_release.py").deadline
    # The callback must be importable by the scheduler/triggerer, i.e. live in the package, not in the DAG file.
    assert alert.callback.path == "airflow_provider_hokusai.notifications.hokusai_deadline_missed"
    assert alert.interval == timedelta(hours=2)

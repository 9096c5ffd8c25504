"""
Many workers, one announcement (issue 16): Airflow on the CeleryExecutor with two real ``airflow celery worker``
processes announces each model version exactly once however many runs race for it.

``api-server`` (the workers' Task SDK talks to its execution API), ``scheduler``, ``dag-processor`` and two Celery
workers (two task slots each) run as separate processes; the broker is a redis-server started here (db 0; the
announcement queue is db 1 of the same server), the metadata and the Celery result backend a PostgreSQL database
created here and dropped at the end, the registry a real ``mlflow server``. Twenty runs of ``hokusai_announce_only``
are fired at once over the REST API, each version of ten twice: exactly ten messages reach the queue, one per
version, all ten versions carry a receipt, every task succeeds on its first try and both workers ran tasks.

``make test-celery`` runs it (``.ci/run`` too, after ``make test``); every wait is bounded, and everything started
here is stopped (the database dropped) whatever happens.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from hokusai_testkit.celery_stack import CeleryStack
from hokusai_testkit.mlflow import MLflowServer, create_run, running_mlflow_server, unique, validated_tags
from hokusai_testkit.postgres import own_database
from hokusai_testkit.redis import RedisProcess, start_redis

pytestmark = [pytest.mark.system, pytest.mark.timeout(540)]

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "hokusai_announce_only"
VERSIONS = 10
RUNS_PER_VERSION = 2
QUEUE_LIST = "hokusai:model_ready_queue"
RUNS_TIMEOUT = 300.0


@dataclass
class Stack:
    airflow: CeleryStack
    workers: list[str]
    redis: RedisProcess
    mlflow: MLflowServer
    model: str


def register_versions(tracking_uri: str, count: int) -> str:
    """``count`` validated versions of one fresh registered model (each from its own finished run)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name = unique("celery-model")
    client.create_registered_model(name)
    experiment = unique("celery-exp")
    for _ in range(count):
        run_id = create_run(tracking_uri, experiment, metrics={"accuracy": 0.95})
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=validated_tags())
    return name


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Everything started, and stopped in reverse order whatever happens (the database dropped last)."""
    with contextlib.ExitStack() as cleanup:
        database = cleanup.enter_context(own_database("hokusai_celery")).name
        redis = cleanup.enter_context(start_redis())
        dags = tmp_path_factory.mktemp("dags")
        # The provider's announce-only DAG, alone (the one-line file of docs/installation.md would add three more).
        (dags / f"{DAG_ID}.py").write_text(
            "from airflow_provider_hokusai.dags.announce_only import announce_only_dag\n\ndag = announce_only_dag()\n"
        )
        airflow = CeleryStack(
            home=tmp_path_factory.mktemp("airflow-home"),
            database=database,
            broker_url=f"redis://127.0.0.1:{redis.port}/0",
            dags_folder=dags,
        )
        pool = cleanup.enter_context(concurrent.futures.ThreadPoolExecutor(1))
        migrated = pool.submit(airflow.migrate)  # a minute or more on a busy machine, while MLflow starts
        mlflow = cleanup.enter_context(running_mlflow_server(tmp_path_factory.mktemp("mlflow")))
        model = register_versions(mlflow.url, VERSIONS)
        migrated.result(timeout=300)
        airflow.environment = {
            "AIRFLOW_CONN_MLFLOW_DEFAULT": mlflow.conn_uri,
            # The queue hooks read the database number from the extra ``db``, not from the URI's path.
            "AIRFLOW_CONN_HOKUSAI_QUEUE": f"redis://127.0.0.1:{redis.port}?db=1",
        }
        cleanup.callback(airflow.stop)
        workers = airflow.start(workers=2)
        airflow.wait_ready()
        yield Stack(airflow, workers, redis, mlflow, model)


def wait_for_dag(stack: Stack, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.airflow.check_running()
        if stack.airflow.api("GET", f"/api/v2/dags/{DAG_ID}", timeout=10).status_code == 200:
            return
        time.sleep(2)
    errors = stack.airflow.api("GET", "/api/v2/importErrors", timeout=10).text
    pytest.fail(f"{DAG_ID} not parsed within {timeout}s; import errors: {errors[-3000:]}")


def fire(stack: Stack, version: str) -> str:
    conf = {"model_name": stack.model, "model_version": version}
    response = stack.airflow.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf})
    assert response.status_code == 200, response.text
    return str(response.json()["dag_run_id"])


def runs_and_tasks(stack: Stack) -> tuple[dict[str, str], list[dict[str, Any]]]:
    runs = stack.airflow.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100", timeout=30).json()["dag_runs"]
    tis = stack.airflow.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances?limit=100", timeout=30).json()
    return {r["dag_run_id"]: r["state"] for r in runs}, tis["task_instances"]


def wait_for_runs(stack: Stack, run_ids: list[str]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    deadline = time.monotonic() + RUNS_TIMEOUT
    states: dict[str, str] = {}
    tis: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        stack.airflow.check_running()
        states, tis = runs_and_tasks(stack)
        if all(states.get(r) in ("success", "failed") for r in run_ids):
            return states, tis
        time.sleep(3)
    pytest.fail(f"runs not done within {RUNS_TIMEOUT}s: {states}\n{stack.airflow.log_tail(chars=1500)}")


def worker_task_counts(stack: Stack) -> dict[str, int]:
    """Tasks each worker received, from its log (Celery logs ``Task <name>[<id>] received``)."""
    return {w: stack.airflow.log(f"worker{i}").count("] received") for i, w in enumerate(stack.workers, 1)}


def test_twenty_concurrent_runs_on_two_celery_workers_announce_ten_versions_once_each(stack: Stack) -> None:
    started = time.monotonic()
    wait_for_dag(stack)
    versions = [str(v) for v in range(1, VERSIONS + 1)]
    with concurrent.futures.ThreadPoolExecutor(RUNS_PER_VERSION * VERSIONS) as pool:
        run_ids = list(pool.map(lambda v: fire(stack, v), versions * RUNS_PER_VERSION))
    states, tis = wait_for_runs(stack, run_ids)
    elapsed = time.monotonic() - started

    failed = {r: s for r, s in states.items() if s != "success"}
    assert not failed, f"runs not successful: {failed}\n{stack.airflow.log_tail(chars=1500)}"
    assert len(tis) == len(run_ids)
    assert all(ti["state"] == "success" for ti in tis), [(ti["dag_run_id"], ti["state"]) for ti in tis]
    assert all(ti["try_number"] == 1 for ti in tis), "a task failed and was retried"

    import redis

    queue = redis.Redis(host="127.0.0.1", port=stack.redis.port, db=1, socket_timeout=10)
    messages = [json.loads(body) for body in queue.lrange(QUEUE_LIST, 0, -1)]
    assert len(messages) == VERSIONS
    assert sorted(int(m["model_version"]) for m in messages) == list(range(1, VERSIONS + 1))
    assert {m["model_name"] for m in messages} == {stack.model}

    from mlflow import MlflowClient

    registry = MlflowClient(tracking_uri=stack.mlflow.url, registry_uri=stack.mlflow.url)
    receipts = {v: receipt_from_tags(registry.get_model_version(stack.model, v).tags) for v in versions}
    assert all(receipts.values()), [v for v, r in receipts.items() if not r]
    assert {r["message_id"] for r in receipts.values() if r} == {m["tags"]["message_id"] for m in messages}

    received = worker_task_counts(stack)
    assert all(received.values()), f"a worker ran no task: {received}"
    print(f"\n20 runs on {received} announced {len(messages)} messages in {elapsed:.0f}s")

"""
Several MLflowBaselineTriggers on one connection against a real ``mlflow server``, behind a counting proxy: they
share one ``runs/search`` per poll, and each gets its own decision.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from airflow_provider_hokusai.triggers import mlflow as module
from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger
from hokusai_testkit.http_count import CountingProxy
from tests.fixtures.mlflow import MLflowServer, create_run, unique

pytestmark = pytest.mark.integration

BOUND = 90  # seconds; only a guard against hanging, never an assertion about speed
CONN = "mlflow_counted"  # the mlflow_proxy fixture's connection
SEARCH_RUNS = ("POST", "/api/2.0/mlflow/runs/search")
SEARCH_EXPERIMENTS = ("POST", "/api/2.0/mlflow/experiments/search")
GET_RUN = ("GET", "/api/2.0/mlflow/runs/get")
GET_EXPERIMENT = ("GET", "/api/2.0/mlflow/experiments/get")


def wait_for_searches(proxy: CountingProxy, count: int) -> None:
    deadline = time.monotonic() + BOUND
    while proxy.requests.count(SEARCH_RUNS) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_gates_on_one_connection_share_one_search_per_poll(
    mlflow_server: MLflowServer, mlflow_proxy: CountingProxy
) -> None:
    from mlflow import MlflowClient

    experiment = unique("batched")
    metrics = {"passes": 0.95, "beats": 0.97, "misses": 0.5, "fails": 0.99, "no_metric": None, "late": 0.96}
    runs = {
        name: create_run(mlflow_server.url, experiment, metrics={"accuracy": v} if v else {}, status=None)
        for name, v in metrics.items()
    }
    ends = {"passes": "FINISHED", "beats": "FINISHED", "misses": "FINISHED", "fails": "FAILED", "no_metric": "FINISHED"}
    client = MlflowClient(tracking_uri=mlflow_server.url)  # not through the proxy: only the triggers are counted
    mlflow_proxy.take()

    def finisher() -> None:
        wait_for_searches(mlflow_proxy, 1)  # every run read, all RUNNING
        for name, status in ends.items():
            client.set_terminated(runs[name], status=status)
        wait_for_searches(mlflow_proxy, 3)  # one look, at least, saw the others end while "late" still ran
        client.set_terminated(runs["late"], status="FINISHED")

    async def scenario() -> tuple[dict[str, dict], int]:
        triggers = {
            name: MLflowBaselineTrigger(
                criteria={"run_id": run_id, "metric_name": "accuracy", "baseline_value": 0.9},
                mlflow_conn_id=CONN,
                poll_interval=1.0,
            )
            for name, run_id in runs.items()
        }
        tasks = {name: asyncio.create_task(anext(t.run())) for name, t in triggers.items()}
        await asyncio.sleep(0)
        poller = module._hooks[CONN].poller()
        thread = threading.Thread(target=finisher)
        thread.start()
        await asyncio.wait_for(asyncio.gather(*tasks.values()), BOUND)
        thread.join(BOUND)
        return {name: dict(task.result().payload) for name, task in tasks.items()}, poller.looks

    events, looks = asyncio.run(scenario())
    requests = mlflow_proxy.take()

    assert {name: (e["status"], e["error"]) for name, e in events.items()} == {
        "passes": ("success", None),
        "beats": ("success", None),
        "misses": ("failed", "baseline_not_met"),
        "fails": ("failed", "run_failed"),
        "no_metric": ("failed", "metric_missing"),
        "late": ("success", None),
    }
    assert events["beats"]["evidence"]["run_id"] == runs["beats"]
    assert events["late"]["evidence"]["experiment_name"] == experiment
    json.dumps(events)  # primitives only
    # Six gates, one search per look: the first reads every run (after listing the experiments, once), the
    # next ones ask only which runs ended; no gate reads its run on its own.
    assert looks >= 3
    assert requests.count(SEARCH_RUNS) == looks
    assert requests.count(SEARCH_EXPERIMENTS) == 1
    assert GET_RUN not in requests
    # The experiment, for the evidence, is read at most once per look (after the look's search), however many of
    # the gates that look decides.
    reads_per_look = [0]
    for request in requests:
        if request == SEARCH_RUNS:
            reads_per_look.append(0)
        reads_per_look[-1] += request == GET_EXPERIMENT
    assert max(reads_per_look) == 1 and reads_per_look[0] == 0
    assert set(requests) <= {SEARCH_RUNS, SEARCH_EXPERIMENTS, GET_EXPERIMENT}
    assert module._hooks.get(CONN) is None  # the connection's hook and poller went with its last gate

"""MLflowBaselineTrigger.run() against a real mlflow server."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from airflow_provider_hokusai.gate.baseline import BaselineCheck
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor
from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger
from tests.fixtures.mlflow import MLflowServer, create_run, unique

pytestmark = pytest.mark.integration

BOUND = 60  # seconds; only a guard against hanging, never an assertion about speed


def gate(run_id: str) -> dict[str, object]:
    return {"run_id": run_id, "metric_name": "accuracy", "baseline_value": 0.9}


async def first_event(trigger: MLflowBaselineTrigger) -> dict:
    events = trigger.run()
    event = await asyncio.wait_for(anext(events), timeout=BOUND)
    await events.aclose()
    return dict(event.payload)


def test_running_run_waits_then_success_event_drives_execute_complete(mlflow_conn: MLflowServer) -> None:
    from mlflow import MlflowClient

    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95}, status=None)
    trigger = MLflowBaselineTrigger(criteria=gate(run_id), poll_interval=0.05)
    looked_while_running = threading.Event()
    original = trigger._check

    def check(hook: MLflowHook) -> BaselineCheck:
        result = original(hook)
        if result.status == "pending":
            looked_while_running.set()
        return result

    trigger._check = check  # type: ignore[method-assign]

    def finish_after_first_look() -> None:
        looked_while_running.wait(BOUND)
        MlflowClient(tracking_uri=mlflow_conn.url).set_terminated(run_id, status="FINISHED")

    finisher = threading.Thread(target=finish_after_first_look)
    finisher.start()
    payload = asyncio.run(first_event(trigger))
    finisher.join(BOUND)

    assert looked_while_running.is_set()
    assert payload["status"] == "success"
    assert payload["error"] is None
    assert payload["evidence"]["run_id"] == run_id
    json.dumps(payload)  # primitives only
    evidence = MLflowBaselineSensor(task_id="t", run_id=run_id, metric_name="accuracy", baseline_value=0.9)
    assert evidence.execute_complete({}, payload)["run_id"] == run_id


@pytest.mark.parametrize(
    ("metrics", "status", "error"),
    [
        ({"accuracy": 0.5}, "FINISHED", "baseline_not_met"),
        ({"accuracy": 0.99}, "FAILED", "run_failed"),
        ({"loss": 0.1}, "FINISHED", "metric_missing"),
    ],
)
def test_permanent_outcomes_become_failed_events(
    mlflow_conn: MLflowServer, metrics: dict[str, float], status: str, error: str
) -> None:
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics=metrics, status=status)
    trigger = MLflowBaselineTrigger(criteria=gate(run_id), poll_interval=0.05)
    payload = asyncio.run(first_event(trigger))
    assert payload["status"] == "failed"
    assert payload["error"] == error
    assert run_id in payload["reason"]
    assert payload["evidence"] is None
    json.dumps(payload)  # primitives only


def test_event_loop_keeps_running_while_mlflow_is_queried(mlflow_conn: MLflowServer) -> None:
    """The MLflow call is held until another coroutine runs: a blocking run() would never get there."""
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95})
    trigger = MLflowBaselineTrigger(criteria=gate(run_id), poll_interval=0.05)
    loop_ran = threading.Event()
    original = trigger._check

    def held_check(hook: MLflowHook) -> BaselineCheck:
        if not loop_ran.wait(BOUND):
            raise AssertionError("the event loop was blocked while MLflow was queried")
        return original(hook)

    trigger._check = held_check  # type: ignore[method-assign]

    async def scenario() -> dict:
        waiter = asyncio.create_task(first_event(trigger))
        await asyncio.sleep(0)
        loop_ran.set()
        return await waiter

    assert asyncio.run(scenario())["status"] == "success"


def test_unreachable_server_yields_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.ports import free_port

    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", f"mlflow://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    trigger = MLflowBaselineTrigger(criteria=gate("abc"), poll_interval=0.05)
    payload = asyncio.run(first_event(trigger))
    assert payload["status"] == "error"


def test_champion_alias_and_missing_baseline_through_the_trigger(mlflow_conn: MLflowServer) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_conn.url)
    model = unique("champion-model")
    champion = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.9})
    client.create_registered_model(model)
    client.create_model_version(model, f"runs:/{champion}/model", run_id=champion)
    client.set_registered_model_alias(model, "champion", "1")
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.95})
    alias = {"run_id": run_id, "metric_name": "accuracy", "baseline_model_name": model, "baseline_alias": "champion"}

    won = asyncio.run(first_event(MLflowBaselineTrigger(criteria=alias, poll_interval=0.05)))
    assert (won["status"], won["evidence"]["baseline_value"], won["evidence"]["baseline_source"]) == (
        "success",
        0.9,
        "alias:champion",
    )
    missing = {**alias, "baseline_model_name": unique("no-such-model")}
    none = asyncio.run(first_event(MLflowBaselineTrigger(criteria=missing, poll_interval=0.05)))
    assert (none["status"], none["error"]) == ("failed", "baseline_unavailable")

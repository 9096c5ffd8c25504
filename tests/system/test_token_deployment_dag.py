"""The consumer example DAG: its asset watcher's real ``MessageQueueTrigger`` against moto SQS, then its plan step.

What the triggerer would do is done here for real: the trigger is rebuilt from its serialized form, run on an event
loop against the moto server until it fires, and its event payload becomes the asset event the DAG's ``plan`` task
receives. Messages get there through the real publish path (the SQS queue hook).
"""

from __future__ import annotations

import asyncio
import importlib
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from tests.fixtures.sqs import SqsQueues

SQS_CONN_ENV = "AIRFLOW_CONN_HOKUSAI_SQS"


def message(model_version: str, model_name: str = "hokusai-consumer-model") -> ModelReadyToDeployMessage:
    return build_model_ready_message(
        model_name=model_name,
        model_version=model_version,
        mlflow_run_id=f"run-{model_version}",
        token_symbol="HKC",
        metric_name="accuracy",
        baseline_value=0.9,
        current_value=0.9 + int(model_version) / 100,
    )


@pytest.fixture
def consumer_module(sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The DAG file loaded with the queue and connection a deployment would give it."""
    from scripts.dagrun import load_dag

    monkeypatch.setenv("HOKUSAI_MODEL_READY_SQS_QUEUE_URL", sqs_queues.standard_url)
    monkeypatch.setenv(SQS_CONN_ENV, sqs_queues.server.conn_json())
    load_dag("hokusai_token_deployment.py")
    import sys

    return sys.modules["hokusai_token_deployment"]


async def first_event(trigger: Any, timeout: float = 60.0) -> Any:
    async def first() -> Any:
        async for event in trigger.run():
            return event
        raise AssertionError("the trigger stopped without an event")

    return await asyncio.wait_for(first(), timeout)


def fire_watcher(module: Any) -> dict[str, Any]:
    """Rebuild the watcher's trigger from its serialized form, as the triggerer does, and wait for its event."""
    watcher = module.model_ready.watchers[0]
    classpath, kwargs = watcher.trigger.serialize()
    module_name, class_name = classpath.rsplit(".", 1)
    trigger = getattr(importlib.import_module(module_name), class_name)(**kwargs)
    event = asyncio.run(first_event(trigger))
    payload: dict[str, Any] = event.payload
    return payload


def test_published_messages_reach_the_plan_step_through_the_real_trigger(
    consumer_module: Any, sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_hokusai.hooks.sqs import SqsQueueHook

    hook = SqsQueueHook(aws_conn_id="hokusai_sqs", queue_name=sqs_queues.standard_url)
    for version in ("1", "2", "3"):
        hook.publish(message(version))
    # Something the deployer must reject: an unknown key.
    sqs_queues.server.client().send_message(
        QueueUrl=sqs_queues.standard_url, MessageBody=json.dumps({**message("4").to_dict(), "surprise": 1})
    )
    # Version 1 was deployed by an earlier run.
    monkeypatch.setenv("AIRFLOW_VAR_HOKUSAI_DEPLOYED_VERSIONS", json.dumps({"hokusai-consumer-model": "1"}))

    bodies: list[str] = []
    events = []
    while len(bodies) < 4:
        payload = fire_watcher(consumer_module)
        events.append(SimpleNamespace(extra={"from_trigger": True, "payload": payload}))
        bodies += [m["Body"] for m in payload["message_batch"]]

    plan_task = consumer_module.dag.task_dict["plan"]
    plan = plan_task.python_callable(triggering_asset_events={consumer_module.model_ready: events})

    assert [(m["model_id"], m["model_version"]) for m in plan["deploy"]] == [("hokusai-consumer-model", "3")]
    assert sorted(d["model_version"] for d in plan["duplicates"]) == ["1", "2"]
    assert len(plan["rejected"]) == 1 and "surprise" in plan["rejected"][0]["reason"]
    deployed = ModelReadyToDeployMessage.model_validate(plan["deploy"][0])
    assert deployed.message_id == message("3").message_id

    # The deploy step's bookkeeping: version 3 is now the deployed one; a redelivery of it would be a duplicate.
    from hokusai_examples.consumer import apply_deployments, plan_deployments

    done, record = apply_deployments(plan, {"hokusai-consumer-model": "1"})
    assert done == [{"model_id": "hokusai-consumer-model", "model_version": "3"}]
    assert plan_deployments([message("3").to_json()], record).deploy == []


@pytest.mark.usefixtures("airflow_db")
def test_consumer_dag_runs_for_real_on_the_triggers_events(
    consumer_module: Any, sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The whole consumer DAG through ``dag.test()``: plan and deploy run as tasks, with Variables in the metadata DB.

    The one thing ``dag.test()`` cannot do is what the scheduler does when a watcher fires: create the run with the
    asset event as its trigger. That step is done here, on the run ``dag.test()`` creates, with the real trigger's
    payload.
    """
    from airflow.models import Variable as VariableModel

    from airflow_provider_hokusai.hooks.sqs import SqsQueueHook

    hook = SqsQueueHook(aws_conn_id="hokusai_sqs", queue_name=sqs_queues.standard_url)
    for version in ("2", "3"):
        hook.publish(message(version, model_name="hokusai-consumer-dag"))
    payloads = []
    while sum(len(p["message_batch"]) for p in payloads) < 2:
        payloads.append(fire_watcher(consumer_module))
    VariableModel.set(consumer_module.DEPLOYED_VARIABLE, json.dumps({"hokusai-consumer-dag": "2", "other": "5"}))

    result = run_on_payloads(consumer_module, payloads, monkeypatch)

    assert result.succeeded, result.states
    assert result.returns["deploy"] == [{"model_id": "hokusai-consumer-dag", "model_version": "3"}]
    assert result.returns["plan"]["duplicates"] == [{"model_id": "hokusai-consumer-dag", "model_version": "2"}]
    recorded = json.loads(VariableModel.get(consumer_module.DEPLOYED_VARIABLE))
    assert recorded == {"hokusai-consumer-dag": "3", "other": "5"}


def run_on_payloads(consumer_module: Any, payloads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``dag.test()`` of the consumer DAG, its run triggered by asset events carrying ``payloads``."""
    import airflow.models.dagrun as dagrun_module
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import select

    from scripts.dagrun import run_dag_test

    create_run = dagrun_module.get_or_create_dagrun

    def run_triggered_by_the_watcher(**kwargs: Any) -> Any:
        run = create_run(**kwargs)
        session = kwargs["session"]
        asset = session.scalars(select(AssetModel).where(AssetModel.name == consumer_module.model_ready.name)).one()
        for payload in payloads:
            event = AssetEvent(asset_id=asset.id, extra={"from_trigger": True, "payload": payload})
            session.add(event)
            run.consumed_asset_events.append(event)
        session.commit()
        return run

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", run_triggered_by_the_watcher)
    return run_dag_test("hokusai_token_deployment.py")


def odd_message(model_version: str, model_name: str) -> ModelReadyToDeployMessage:
    return build_model_ready_message(
        model_name=model_name, model_version=model_version, mlflow_run_id="r", token_symbol="HKC",
        metric_name="accuracy", baseline_value=0.9, current_value=0.95,
    )  # fmt: skip


@pytest.mark.usefixtures("airflow_db")
def test_contract_valid_odd_versions_and_malformed_bodies_never_fail_the_run(
    consumer_module: Any, sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 8, through real SQS and real task runs: "²" once crashed the plan (int("²")), failing the batch."""
    from airflow.models import Variable as VariableModel

    from airflow_provider_hokusai.hooks.sqs import SqsQueueHook

    hook = SqsQueueHook(aws_conn_id="hokusai_sqs", queue_name=sqs_queues.standard_url)
    versions = ["\u00b2", "v2", "1.0", "\u0661", "10", "09"]
    for version in versions:
        hook.publish(odd_message(version, "hokusai-odd"))
    for bad in ("not json", "[]", '{"model_version": 1e999}'):
        sqs_queues.server.client().send_message(QueueUrl=sqs_queues.standard_url, MessageBody=bad)
    payloads: list[dict[str, Any]] = []
    while sum(len(p["message_batch"]) for p in payloads) < len(versions) + 3:
        payloads.append(fire_watcher(consumer_module))
    VariableModel.set(consumer_module.DEPLOYED_VARIABLE, json.dumps({}))

    result = run_on_payloads(consumer_module, payloads, monkeypatch)

    assert result.succeeded, result.states
    plan = result.returns["plan"]
    assert len(plan["rejected"]) == 3
    assert [(m["model_id"], m["model_version"]) for m in plan["deploy"]] == [("hokusai-odd", "10")]
    assert json.loads(VariableModel.get(consumer_module.DEPLOYED_VARIABLE)) == {"hokusai-odd": "10"}


@pytest.mark.usefixtures("airflow_db")
def test_a_stale_overlapping_run_never_moves_the_deployed_version_backwards(
    consumer_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Issue 11 item 9, the reported overlap on real task runs and the metadata DB's Variables: the run for v1 plans on
    the record as it was (nothing deployed), then the run for v2 records "2", then v1's deploy step runs. It must
    neither deploy v1 nor record "1". Runs are also serialized (``max_active_runs=1``).
    """
    from airflow.models import Variable as VariableModel

    from hokusai_examples import consumer

    assert consumer_module.dag.max_active_runs == 1
    model = "hokusai-overlap"
    VariableModel.set(consumer_module.DEPLOYED_VARIABLE, json.dumps({"other": "5"}))
    plan_on_the_stale_record = consumer.plan_deployments

    def plan_then_the_v2_run_records_2(*args: Any, **kwargs: Any) -> Any:
        planned = plan_on_the_stale_record(*args, **kwargs)
        VariableModel.set(consumer_module.DEPLOYED_VARIABLE, json.dumps({model: "2", "other": "5"}))
        return planned

    monkeypatch.setattr(consumer, "plan_deployments", plan_then_the_v2_run_records_2)
    payload = {"message_batch": [{"Body": odd_message("1", model).to_json()}]}

    result = run_on_payloads(consumer_module, [payload], monkeypatch)

    assert result.succeeded, result.states
    assert [m["model_version"] for m in result.returns["plan"]["deploy"]] == ["1"]  # planned on the stale read
    assert result.returns["deploy"] == []  # not deployed: "2" is newer
    assert json.loads(VariableModel.get(consumer_module.DEPLOYED_VARIABLE)) == {model: "2", "other": "5"}

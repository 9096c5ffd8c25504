"""The consumer example DAG with signing keys on its ``hokusai_sqs`` connection: forged bodies are rejected one by one.

Messages reach the DAG's ``plan`` task as in production: published through the signing SQS hook (and, for the
forgeries, sent straight to the queue by someone without the key), received by the asset watcher's real
``MessageQueueTrigger`` against moto.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.fixtures.sqs import SqsQueues
from tests.system.test_token_deployment_dag import SQS_CONN_ENV, fire_watcher, message

SECRET = "consumer-dag-signing-secret-0123456789abcdef"


@pytest.fixture
def signed_consumer(sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The DAG file loaded with a signing queue connection and its key."""
    from scripts.dagrun import load_dag

    monkeypatch.setenv("HOKUSAI_MODEL_READY_SQS_QUEUE_URL", sqs_queues.standard_url)
    monkeypatch.setenv(SQS_CONN_ENV, sqs_queues.server.conn_json(signing_conn_ids=["hokusai_signing_dag"]))
    key = {"conn_type": "generic", "login": "dag-2026-06", "password": SECRET}
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_SIGNING_DAG", json.dumps(key))
    load_dag("hokusai_token_deployment.py")
    import sys

    return sys.modules["hokusai_token_deployment"]


def test_the_consumer_dag_rejects_forged_and_unsigned_bodies_and_deploys_the_rest(
    signed_consumer: Any, sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_hokusai.hooks.sqs import SqsQueueHook

    model = "hokusai-signed-consumer"
    hook = SqsQueueHook(aws_conn_id="hokusai_sqs", queue_name=sqs_queues.standard_url)
    hook.publish(message("1", model_name=model))
    client = sqs_queues.server.client()
    # Forgeries: a signed body with a bumped version (signature copied), and an unsigned body.
    genuine = json.loads(client.receive_message(QueueUrl=sqs_queues.standard_url)["Messages"][0]["Body"])
    client.purge_queue(QueueUrl=sqs_queues.standard_url)
    forged = {**message("5", model_name=model).to_dict(), "tags": {**genuine["tags"]}}
    forged["tags"]["message_id"] = message("5", model_name=model).message_id
    hook.publish(message("2", model_name=model))
    client.send_message(QueueUrl=sqs_queues.standard_url, MessageBody=json.dumps(forged))
    client.send_message(QueueUrl=sqs_queues.standard_url, MessageBody=message("6", model_name=model).to_json())
    monkeypatch.setenv("AIRFLOW_VAR_HOKUSAI_DEPLOYED_VERSIONS", "{}")

    events, count = [], 0
    while count < 3:
        payload = fire_watcher(signed_consumer)
        events.append(SimpleNamespace(extra={"from_trigger": True, "payload": payload}))
        count += len(payload["message_batch"])

    plan_task = signed_consumer.dag.task_dict["plan"]
    plan = plan_task.python_callable(triggering_asset_events={signed_consumer.model_ready: events})

    assert [(m["model_id"], m["model_version"]) for m in plan["deploy"]] == [(model, "2")]
    assert sorted(r["error"] for r in plan["rejected"]) == ["InvalidMessageSignature", "InvalidMessageSignature"]
    assert all(SECRET not in r["reason"] for r in plan["rejected"])

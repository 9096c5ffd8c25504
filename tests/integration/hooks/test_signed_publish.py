"""
Signed announcements on real servers (a redis-server, a moto SQS server with standard and FIFO queues): what lands on
the queue passes the token deployer's contract unchanged and verifies, and exactly-once still holds with signing on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import InvalidConfigurationError, InvalidMessageSignature
from airflow_provider_hokusai.hooks.queue import ModelReadyQueueHook, get_queue_hook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from airflow_provider_hokusai.signing import verify_model_ready
from tests.fixtures.redis import RedisProcess
from tests.fixtures.sqs import SqsQueues

pytestmark = pytest.mark.integration

SECRET = "integration-signing-secret-0123456789-abcdef"
KEYS = {"it-2026-06": SECRET}
SIGNING_CONN_ENV = "AIRFLOW_CONN_HOKUSAI_SIGNING_IT"
REDIS_CONN_ENV = "AIRFLOW_CONN_HOKUSAI_REDIS_SIGNED"
SQS_CONN_ENV = "AIRFLOW_CONN_HOKUSAI_SQS_SIGNED"


def announce(version: int = 1) -> ModelReadyToDeployMessage:
    """What every announcement attempt builds: a fresh message, with a fresh timestamp, for the same version."""
    return build_model_ready_message(
        model_name="signed-model",
        model_version=version,
        mlflow_run_id=f"run-{version}",
        token_symbol="SIGN",
        metric_name="accuracy",
        current_value=0.93,
        baseline_value=0.9,
        tags={"pipeline": "hokusai_model_release"},
    )


@dataclass
class Signed:
    """A signing queue: its hook, and what its consumer receives (body, and SQS attributes when any)."""

    name: str
    hook: Callable[[], ModelReadyQueueHook]
    receive: Callable[[], list[tuple[str, dict[str, str]]]]
    dedups: bool


@pytest.fixture
def signing_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        SIGNING_CONN_ENV, json.dumps({"conn_type": "generic", "login": "it-2026-06", "password": SECRET})
    )


def _redis(redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch) -> Signed:
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools

    close_shared_pools()
    client = redis_server.client()
    client.flushall()
    monkeypatch.setenv(REDIS_CONN_ENV, redis_server.conn_json(signing_conn_ids=["hokusai_signing_it"]))

    def receive() -> list[tuple[str, dict[str, str]]]:
        received = []
        while (body := client.rpop("hokusai:model_ready_queue")) is not None:
            received.append((body.decode(), {}))
        return received

    return Signed("redis", lambda: get_queue_hook("hokusai_redis_signed"), receive, dedups=True)


def _sqs(queues: SqsQueues, monkeypatch: pytest.MonkeyPatch, fifo: bool) -> Signed:
    monkeypatch.setenv(SQS_CONN_ENV, queues.server.conn_json(signing_conn_ids="hokusai_signing_it"))
    client, url = queues.server.client(), queues.fifo_url if fifo else queues.standard_url

    def receive() -> list[tuple[str, dict[str, str]]]:
        received = []
        while got := client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for m in got:
                received.append((m["Body"], {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}))
                client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return received

    return Signed(
        "sqs-fifo" if fifo else "sqs-standard",
        lambda: get_queue_hook("hokusai_sqs_signed", queue_name=url),
        receive,
        dedups=fifo,
    )


@pytest.fixture(params=["redis", "sqs-standard", "sqs-fifo"])
def signed(request: pytest.FixtureRequest, signing_conn: None, monkeypatch: pytest.MonkeyPatch) -> Signed:
    if request.param == "redis":
        return _redis(request.getfixturevalue("redis_server"), monkeypatch)
    return _sqs(request.getfixturevalue("sqs_queues"), monkeypatch, fifo=request.param == "sqs-fifo")


def test_signed_messages_pass_the_contract_unchanged_and_verify(signed: Signed) -> None:
    messages = [announce(1), announce(2), announce(3)]
    signed.hook().publish(messages[0])
    signed.hook().publish_many(messages[1:])

    received = signed.receive()
    assert len(received) == 3
    for body, attributes in received:
        contract = ModelReadyToDeployMessage.from_json(body)
        assert contract.to_json() == body  # the deployer's own check, and nothing re-written
        verified = verify_model_ready(body, KEYS)
        assert verified == contract and verified.tags is not None
        assert verified.tags["key_id"] == "it-2026-06" and verified.tags["pipeline"] == "hokusai_model_release"
        if signed.name != "redis":
            assert attributes["signature"] == verified.tags["signature"]
            assert attributes["key_id"] == "it-2026-06"
            assert attributes["message_id"] == contract.message_id
    assert sorted(verify_model_ready(b, KEYS).model_version for b, _ in received) == ["1", "2", "3"]


def test_exactly_once_holds_with_signing_on(signed: Signed) -> None:
    first = signed.hook().publish(announce(7))
    # A re-announcement (retry, reconciliation): rebuilt, new timestamp, new signature, same message id.
    again = signed.hook().publish(announce(7))
    batch = signed.hook().publish_many([announce(8), announce(8)])

    received = [verify_model_ready(body, KEYS) for body, _ in signed.receive()]
    versions = sorted(m.model_version for m in received)
    if signed.dedups:
        assert versions == ["7", "8"]
        # Redis reports the push it skipped; SQS FIFO drops the copy without saying so.
        assert (first.duplicate, again.duplicate) == (False, signed.name == "redis")
    else:
        # SQS standard does not deduplicate (documented): the consumer does, on the signed message id.
        assert versions == ["7", "7", "8", "8"]
        assert len({m.message_id for m in received}) == 2
    assert batch[0].message_id == batch[1].message_id


def test_an_unusable_key_publishes_nothing(signed: Signed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_CONN_ENV, json.dumps({"conn_type": "generic", "password": "too-short"}))
    with pytest.raises(InvalidConfigurationError) as info:
        signed.hook().publish(announce(9))
    assert "too-short" not in str(info.value)
    monkeypatch.delenv(SIGNING_CONN_ENV)
    with pytest.raises(InvalidConfigurationError):
        signed.hook().publish_many([announce(10), announce(11)])
    assert signed.receive() == []


def test_a_forged_copy_on_the_queue_is_refused(signed: Signed) -> None:
    hook = signed.hook()
    hook.publish(announce(12))
    [(body, _)] = signed.receive()
    forged: dict[str, Any] = json.loads(body)
    forged["current_value"] = 0.99
    with pytest.raises(InvalidMessageSignature):
        verify_model_ready(json.dumps(forged), KEYS)

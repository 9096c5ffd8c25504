"""
One contract for every queue backend, run against real servers: a redis-server and a moto SQS server (standard
and FIFO queues). What lands on the queue must pass the token deployer's own check,
``ModelReadyToDeployMessage.from_json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import InvalidQueueMessage, QueuePermanentError
from airflow_provider_hokusai.hooks.queue import ModelReadyQueueHook, PublishReceipt, get_queue_hook
from airflow_provider_hokusai.hooks.redis import RedisQueueHook
from airflow_provider_hokusai.hooks.sqs import SqsQueueHook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from tests.fixtures.redis import RedisProcess
from tests.fixtures.sqs import SqsQueues

pytestmark = pytest.mark.integration


def make_message(version: int = 1, **overrides: Any) -> ModelReadyToDeployMessage:
    fields: dict[str, Any] = {
        "model_name": "churn-classifier",
        "model_version": version,
        "mlflow_run_id": f"run-{version}",
        "token_symbol": "CHURN",
        "metric_name": "accuracy",
        "current_value": 0.91,
        "baseline_value": 0.85,
        "experiment_name": "churn",
        **overrides,
    }
    return build_model_ready_message(**fields)


@dataclass
class Backend:
    """A queue under test: the hook factory's view, and a way to read what consumers would receive."""

    name: str
    conn_id: str
    queue_name: str
    receive: Callable[[], list[str]]
    dedups: bool
    make_hook: Callable[..., ModelReadyQueueHook]

    def hook(self, **kwargs: Any) -> ModelReadyQueueHook:
        return get_queue_hook(self.conn_id, queue_name=self.queue_name, **kwargs)


def _redis_backend(redis_queue_conn: str, redis_server: RedisProcess) -> Backend:
    client = redis_server.client()

    def receive() -> list[str]:
        # The token deployer pops from the right: oldest first.
        bodies = []
        while (body := client.rpop("hokusai:model_ready_queue")) is not None:
            bodies.append(body.decode())
        return bodies

    return Backend(
        name="redis",
        conn_id=redis_queue_conn,
        queue_name="hokusai:model_ready_queue",
        receive=receive,
        dedups=True,
        make_hook=lambda **kw: RedisQueueHook(redis_conn_id=redis_queue_conn, **kw),
    )


def _sqs_backend(queues: SqsQueues, fifo: bool) -> Backend:
    client = queues.server.client()
    url = queues.fifo_url if fifo else queues.standard_url

    def receive() -> list[str]:
        bodies: list[str] = []
        while True:
            got = client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return bodies
            for message in got:
                attributes = message["MessageAttributes"]
                # The attributes carry the id consumers deduplicate on, and the contract's type and version.
                assert attributes["message_type"]["StringValue"] == "model_ready_to_deploy"
                assert attributes["message_version"]["StringValue"] == "1.0"
                assert attributes["message_id"]["StringValue"] == json.loads(message["Body"])["tags"]["message_id"]
                bodies.append(message["Body"])
                client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    name = "hokusai-model-ready.fifo" if fifo else "hokusai-model-ready"
    return Backend(
        name="sqs-fifo" if fifo else "sqs-standard",
        conn_id=queues.conn_id,
        queue_name=name,
        receive=receive,
        dedups=fifo,
        make_hook=lambda **kw: SqsQueueHook(aws_conn_id=queues.conn_id, queue_name=name, **kw),
    )


@pytest.fixture(params=["redis", "sqs-standard", "sqs-fifo"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "redis":
        return _redis_backend(request.getfixturevalue("redis_queue_conn"), request.getfixturevalue("redis_server"))
    return _sqs_backend(request.getfixturevalue("sqs_queues"), fifo=request.param == "sqs-fifo")


def test_factory_picks_the_backend_from_the_connection_type(backend: Backend) -> None:
    hook = backend.hook()
    assert isinstance(hook, RedisQueueHook if backend.name == "redis" else SqsQueueHook)
    assert hook.backend == ("redis" if backend.name == "redis" else "sqs")
    assert hook.queue_name == backend.queue_name


def test_published_message_is_what_the_token_deployer_accepts(backend: Backend) -> None:
    message = make_message(contributor_address="0x" + "ab" * 20)
    receipt = backend.hook().publish(message)

    assert isinstance(receipt, PublishReceipt)
    assert receipt.message_id == message.message_id
    assert receipt.duplicate is False
    assert receipt.attempts == 1
    assert receipt.duration_ms >= 0
    assert receipt.published_at.endswith("Z")
    assert json.loads(json.dumps(receipt.to_dict())) == receipt.to_dict()
    if backend.name == "redis":
        assert receipt.queue == "hokusai:model_ready_queue"
        assert receipt.broker_message_id is None
    else:
        assert receipt.queue.endswith("/" + backend.queue_name)
        assert receipt.broker_message_id

    (body,) = backend.receive()
    received = ModelReadyToDeployMessage.from_json(body)
    assert received == message
    assert body == message.to_json()


def test_duplicate_publish_is_delivered_once_where_the_broker_deduplicates(backend: Backend) -> None:
    message = make_message()
    hook = backend.hook()
    first = hook.publish(message)
    second = backend.hook().publish(message)  # a fresh hook, as a retried Airflow task would have

    bodies = backend.receive()
    if backend.dedups:
        assert [ModelReadyToDeployMessage.from_json(b).message_id for b in bodies] == [message.message_id]
    else:
        # A standard SQS queue is at-least-once; consumers deduplicate on the message_id attribute.
        assert len(bodies) == 2
        assert {ModelReadyToDeployMessage.from_json(b).message_id for b in bodies} == {message.message_id}
    assert first.duplicate is False
    if backend.name == "redis":
        assert second.duplicate is True
        assert second.published_at == first.published_at


def test_status_reports_depth(backend: Backend) -> None:
    hook = backend.hook()
    assert hook.queue_status().depth == 0
    for version in (1, 2, 3):
        hook.publish(make_message(version))

    status = hook.queue_status()
    assert status.reachable is True
    assert status.error is None
    assert status.depth == 3
    assert status.processing_depth == 0
    assert status.dead_letter_depth == 0
    assert status.latency_ms is not None and status.latency_ms >= 0
    assert json.loads(json.dumps(status.to_dict())) == status.to_dict()


def test_test_connection_talks_to_the_queue(backend: Backend) -> None:
    ok, text = backend.hook().test_connection()
    assert ok is True, text
    assert backend.queue_name in text


def test_publish_many_keeps_order_and_dedup(backend: Backend) -> None:
    messages = [make_message(1), make_message(2), make_message(3)]
    hook = backend.hook()
    hook.publish(messages[0])

    receipts = hook.publish_many([messages[0], messages[1], messages[2]])
    assert [r.message_id for r in receipts] == [m.message_id for m in messages]

    bodies = [ModelReadyToDeployMessage.from_json(b) for b in backend.receive()]
    if backend.dedups:
        assert sorted(m.model_version for m in bodies) == ["1", "2", "3"]
    else:
        assert sorted(m.model_version for m in bodies) == ["1", "1", "2", "3"]
    if backend.name == "redis":
        assert [r.duplicate for r in receipts] == [True, False, False]


def test_oversized_message_is_refused_before_sending(backend: Backend) -> None:
    hook = backend.make_hook(max_message_bytes=600)
    big = make_message(tags={"notes": "x" * 700})

    with pytest.raises(InvalidQueueMessage) as info:
        hook.publish(big)
    assert info.value.fields == ["message"]
    assert "600 bytes" in str(info.value)
    assert isinstance(info.value, QueuePermanentError)
    with pytest.raises(InvalidQueueMessage):
        hook.publish_many([make_message(2), big])
    assert backend.receive() == []


@pytest.mark.parametrize(
    "bad",
    [
        {"model_id": "m"},
        '{"model_id": "m"}',
        None,
        42,
    ],
    ids=["dict", "json-text", "none", "number"],
)
def test_anything_but_a_rendered_message_is_refused(backend: Backend, bad: object) -> None:
    hook = backend.hook()
    with pytest.raises(InvalidQueueMessage) as info:
        hook.publish(bad)  # type: ignore[arg-type]
    assert info.value.fields == ["message"]
    with pytest.raises(InvalidQueueMessage) as many:
        hook.publish_many([make_message(), bad])  # type: ignore[list-item]
    assert many.value.fields == ["messages[1]"]
    assert backend.receive() == []

"""SqsQueueHook against a real moto server: URLs, FIFO rules, dead-letter depth, missing queues, outages, config."""

from __future__ import annotations

import json

import pytest

from airflow_provider_hokusai.exceptions import (
    InvalidConfigurationError,
    InvalidQueueMessage,
    QueuePermanentError,
    QueuePublishError,
)
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.hooks.sqs import SqsQueueHook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.queue.retry import RetryPolicy
from tests.fixtures.ports import free_port
from tests.fixtures.sqs import FIFO_QUEUE, SECRET_KEY, STANDARD_QUEUE, SqsQueues
from tests.integration.hooks.test_queue_contract import make_message

pytestmark = pytest.mark.integration


def test_queue_given_by_url_and_by_connection_extra(sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch) -> None:
    by_url = get_queue_hook(sqs_queues.conn_id, queue_name=sqs_queues.fifo_url)
    assert by_url.queue_name == FIFO_QUEUE
    assert by_url.publish(make_message()).queue == sqs_queues.fifo_url

    monkeypatch.setenv("AIRFLOW_CONN_SQS_WITH_QUEUE", sqs_queues.server.conn_json(queue=STANDARD_QUEUE))
    from_extra = get_queue_hook("sqs_with_queue")
    assert from_extra.queue_name == STANDARD_QUEUE
    assert from_extra.publish(make_message()).queue == sqs_queues.standard_url


def test_fifo_messages_carry_group_and_dedup_ids(sqs_queues: SqsQueues) -> None:
    first, second = make_message(1, model_id="churn-model"), make_message(2, model_id="churn-model")
    hook = get_queue_hook(sqs_queues.conn_id, queue_name=FIFO_QUEUE)
    hook.publish(first)
    hook.publish(second)

    got = sqs_queues.server.client().receive_message(
        QueueUrl=sqs_queues.fifo_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    # One group per model, so the versions arrive in order; the dedup id is the message id.
    assert [m["Attributes"]["MessageGroupId"] for m in got] == ["churn-model", "churn-model"]
    assert [m["Attributes"]["MessageDeduplicationId"] for m in got] == [first.message_id, second.message_id]
    assert [ModelReadyToDeployMessage.from_json(m["Body"]) for m in got] == [first, second]


def test_model_id_that_cannot_be_a_fifo_group_is_refused_before_sending(sqs_queues: SqsQueues) -> None:
    message = make_message(model_id="churn model with spaces")
    with pytest.raises(InvalidQueueMessage) as info:
        get_queue_hook(sqs_queues.conn_id, queue_name=FIFO_QUEUE).publish(message)
    assert info.value.fields == ["model_id"]
    # A standard queue has no group id and takes it.
    assert get_queue_hook(sqs_queues.conn_id, queue_name=STANDARD_QUEUE).publish(message).broker_message_id
    depth = get_queue_hook(sqs_queues.conn_id, queue_name=FIFO_QUEUE).queue_status().depth
    assert depth == 0


def test_dead_letter_depth_found_through_the_redrive_policy(sqs_queues: SqsQueues) -> None:
    client = sqs_queues.server.client()
    hook = get_queue_hook(sqs_queues.conn_id, queue_name=STANDARD_QUEUE)
    hook.publish(make_message(1))
    hook.publish(make_message(2))
    # A consumer that fails twice on one message: moto moves it to the dead-letter queue (maxReceiveCount 2).
    for _ in range(3):
        client.receive_message(QueueUrl=sqs_queues.standard_url, MaxNumberOfMessages=1, VisibilityTimeout=0)
    taken = client.receive_message(QueueUrl=sqs_queues.standard_url, MaxNumberOfMessages=1, VisibilityTimeout=30)

    status = hook.queue_status()
    assert status.reachable is True
    assert status.error is None
    assert status.dead_letter_depth == 1
    assert status.processing_depth == len(taken.get("Messages", []))
    assert (status.depth or 0) + (status.processing_depth or 0) + status.dead_letter_depth == 2


def test_missing_queue_is_permanent_and_reported(sqs_queues: SqsQueues) -> None:
    hook = get_queue_hook(sqs_queues.conn_id, queue_name="no-such-queue")
    with pytest.raises(QueuePermanentError, match="no-such-queue"):
        hook.publish(make_message())
    ok, text = hook.test_connection()
    assert ok is False
    assert "does not exist" in text
    status = hook.queue_status()
    assert (status.reachable, status.queue) == (False, "no-such-queue")


def test_no_queue_configured_names_the_field(sqs_queues: SqsQueues) -> None:
    with pytest.raises(InvalidConfigurationError) as info:
        get_queue_hook(sqs_queues.conn_id).publish(make_message())
    assert info.value.fields == ["queue_name"]


def test_unreachable_endpoint_is_retryable_after_bounded_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SQS_DOWN",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "k",
                "password": SECRET_KEY,
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    policy = RetryPolicy(attempts=2, backoff_base=0.0, backoff_cap=0.0)
    hook = get_queue_hook("sqs_down", queue_name=f"{endpoint}/123456789012/{STANDARD_QUEUE}", retry=policy)

    with pytest.raises(QueuePublishError) as info:
        hook.publish(make_message())
    assert "after 2 attempt(s)" in str(info.value)
    assert SECRET_KEY not in str(info.value)
    status = hook.queue_status()
    assert status.reachable is False
    assert status.error and SECRET_KEY not in status.error
    ok, text = hook.test_connection()
    assert ok is False and SECRET_KEY not in text


def test_connection_config_kwargs_apply_under_the_retry_policy(
    sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SQS_TUNED",
        sqs_queues.server.conn_json(
            config_kwargs={"read_timeout": 3, "retries": {"mode": "standard", "total_max_attempts": 7}}
        ),
    )
    tuned = SqsQueueHook(aws_conn_id="sqs_tuned", queue_name=STANDARD_QUEUE)
    config = tuned.get_conn().meta.config
    assert (config.read_timeout, config.connect_timeout) == (3, 5)
    assert config.retries["total_max_attempts"] == 7  # the admin's setting, no explicit policy given

    explicit = SqsQueueHook(aws_conn_id="sqs_tuned", queue_name=STANDARD_QUEUE, retry=RetryPolicy(attempts=4))
    assert explicit.get_conn().meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert explicit.publish(make_message()).attempts == 1

"""
Connection tests answer in bounded time, whatever the connection asks for, and the provider's queue connection
types (``hokusai_redis``, ``hokusai_sqs``) are Airflow's hooks for their Test button and work as queue connections.

A server that accepts connections and never answers (a listening socket nobody reads) is the worst case: without
bounds, redis-py would wait for the connection's ``socket_timeout`` on each of its retries, botocore for its
``read_timeout`` on each attempt, and MLflow's client for its 120 s timeout on each of 7 retries.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator

import pytest

from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.hooks.redis import HokusaiRedisQueueHook, RedisQueueHook
from airflow_provider_hokusai.hooks.sqs import HokusaiSqsQueueHook, SqsQueueHook
from airflow_provider_hokusai.messages import build_model_ready_message
from tests.fixtures.mlflow import MLflowServer
from tests.fixtures.redis import RedisProcess
from tests.fixtures.sqs import ACCESS_KEY, REGION, SECRET_KEY, SqsQueues

pytestmark = pytest.mark.integration

BUDGET_SECONDS = 15.0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield server.getsockname()[1]


def timed(test: object) -> tuple[bool, str, float]:
    start = time.monotonic()
    ok, text = test()  # type: ignore[operator]
    return ok, text, time.monotonic() - start


def test_redis_test_is_bounded_even_with_long_timeouts(silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"socket_timeout": 120, "socket_connect_timeout": 120}
    conn = {"conn_type": "hokusai_redis", "host": "127.0.0.1", "port": silent_port, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SILENT_REDIS", json.dumps(conn))

    ok, text, seconds = timed(HokusaiRedisQueueHook(redis_conn_id="silent_redis").test_connection)

    assert ok is False and "Timeout" in text
    assert seconds < 7  # one attempt of at most 5 s


def test_sqs_test_is_bounded_even_with_long_timeouts(silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {
        "region_name": REGION,
        "endpoint_url": f"http://127.0.0.1:{silent_port}",
        "queue": "hokusai-model-ready",
        "config_kwargs": {"read_timeout": 120, "retries": {"mode": "standard", "total_max_attempts": 10}},
    }
    conn = {"conn_type": "hokusai_sqs", "login": ACCESS_KEY, "password": SECRET_KEY, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SILENT_SQS", json.dumps(conn))

    ok, text, seconds = timed(HokusaiSqsQueueHook(aws_conn_id="silent_sqs").test_connection)

    assert ok is False and "timeout" in text.lower()
    assert seconds < 9  # one attempt: at most 3 s to connect, 5 s to read
    assert SECRET_KEY not in text


def test_mlflow_test_is_bounded_and_leaves_the_process_alone(silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SILENT_MLFLOW", f"mlflow://:tok-Secret-1234@127.0.0.1:{silent_port}")
    environ = dict(os.environ)

    ok, text, seconds = timed(MLflowHook(mlflow_conn_id="silent_mlflow").test_connection)

    assert ok is False and "not usable" in text
    assert seconds < BUDGET_SECONDS  # one call of at most 13 s, no retry
    assert "tok-Secret-1234" not in text
    assert dict(os.environ) == environ


def test_mlflow_test_against_the_server(mlflow_conn: MLflowServer) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=mlflow_conn.url).search_experiments(max_results=1)  # a server just started is slow once
    ok, text, seconds = timed(MLflowHook().test_connection)
    assert ok, text
    assert seconds < BUDGET_SECONDS


# redis_queue_conn flushes the session's server: the depth asserted below is this test's message alone.
@pytest.mark.usefixtures("redis_queue_conn")
def test_provider_queue_types_are_queue_connections(
    redis_server: RedisProcess, sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_conn = json.loads(redis_server.conn_json()) | {"conn_type": "hokusai_redis"}
    monkeypatch.setenv("AIRFLOW_CONN_TYPED_REDIS", json.dumps(redis_conn))
    sqs_conn = sqs_queues.server.conn(queue=sqs_queues.fifo_url) | {"conn_type": "hokusai_sqs"}
    monkeypatch.setenv("AIRFLOW_CONN_TYPED_SQS", json.dumps(sqs_conn))
    message = build_model_ready_message(
        model_name="typed-model",
        model_version="1",
        mlflow_run_id="run-1",
        token_symbol="HKT",
        metric_name="accuracy",
        baseline_value=0.9,
        current_value=0.95,
    )

    redis_hook, sqs_hook = get_queue_hook("typed_redis"), get_queue_hook("typed_sqs")

    assert isinstance(redis_hook, RedisQueueHook) and isinstance(sqs_hook, SqsQueueHook)
    assert redis_hook.publish(message).duplicate is False
    assert sqs_hook.publish(message).queue == sqs_queues.fifo_url
    ok, text = HokusaiSqsQueueHook(aws_conn_id="typed_sqs").test_connection()
    assert ok and "FIFO" in text and "1 message(s)" in text, text
    ok, text = HokusaiRedisQueueHook(redis_conn_id="typed_redis").test_connection()
    assert ok and "holds 1 message(s)" in text, text


def test_airflow_registers_the_provider_types_for_the_test_button() -> None:
    from airflow.providers_manager import ProvidersManager

    hooks = ProvidersManager().hooks
    for conn_type, hook in (("hokusai_redis", HokusaiRedisQueueHook), ("hokusai_sqs", HokusaiSqsQueueHook)):
        info = hooks[conn_type]
        assert info is not None and info.hook_class_name == f"{hook.__module__}.{hook.__qualname__}"
        assert info.connection_id_attribute_name == hook.conn_name_attr

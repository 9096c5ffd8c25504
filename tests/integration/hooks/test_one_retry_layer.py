"""One retry layer per backend: a publish during a total outage opens at most the policy's number of connections."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from airflow_provider_hokusai.exceptions import QueuePublishError
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.queue.redis_client import close_shared_pools
from airflow_provider_hokusai.queue.retry import RetryPolicy
from tests.integration.hooks.test_queue_contract import make_message

pytestmark = pytest.mark.integration

FAST = {"backoff_base": 0.0, "backoff_cap": 0.0}


class ClosingListener:
    """A broker in a total outage that still accepts TCP: every connection is closed at once, and counted."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def outage() -> Iterator[ClosingListener]:
    listener = ClosingListener()
    yield listener
    listener.close()
    close_shared_pools()


@pytest.mark.parametrize("attempts", [1, 3, 5])
def test_redis_publish_opens_at_most_attempts_connections(
    outage: ClosingListener, monkeypatch: pytest.MonkeyPatch, attempts: int
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OUTAGE_REDIS",
        json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": outage.port, "extra": {"socket_timeout": 1}}),
    )
    hook = get_queue_hook("outage_redis", retry=RetryPolicy(attempts=attempts, **FAST))
    with pytest.raises(QueuePublishError) as info:
        hook.publish(make_message())
    assert outage.accepted == attempts
    assert f"after {attempts} attempt(s)" in str(info.value)


@pytest.mark.parametrize("attempts", [1, 3, 5])
@pytest.mark.parametrize("queue", ["model-ready", "URL"])
def test_sqs_publish_opens_at_most_attempts_connections(
    outage: ClosingListener, monkeypatch: pytest.MonkeyPatch, attempts: int, queue: str
) -> None:
    endpoint = f"http://127.0.0.1:{outage.port}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_OUTAGE_SQS",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "outage-key",
                "password": "outage-secret",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    queue_name = f"{endpoint}/123456789012/model-ready" if queue == "URL" else queue
    hook = get_queue_hook("outage_sqs", queue_name=queue_name, retry=RetryPolicy(attempts=attempts, **FAST))
    with pytest.raises(QueuePublishError) as info:
        hook.publish(make_message())
    # botocore's standard mode waits up to 1, 2, 4... s between tries; the count is what matters here.
    assert outage.accepted == attempts
    assert f"after {attempts} attempt(s)" in str(info.value)

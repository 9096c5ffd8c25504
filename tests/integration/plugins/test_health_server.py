"""``GET /hokusai/health`` over real HTTP (uvicorn), against real redis-servers: healthy, stopped, hanging."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fixtures.redis import RedisProcess
from tests.integration.plugins.conftest import PASSWORD, HangingBroker, HealthServer

pytestmark = pytest.mark.integration

HEALTH_TIMEOUT = 1.0
# Far above the endpoint's own bound: if the endpoint did not bound its answer, the client would give up first.
CLIENT_TIMEOUT = 15.0


@pytest.fixture(autouse=True)
def _health_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_TIMEOUT_SECONDS", str(HEALTH_TIMEOUT))
    monkeypatch.delenv("AIRFLOW__HOKUSAI__HEALTH_REQUIRE_AUTH", raising=False)


def configure(monkeypatch: pytest.MonkeyPatch, **connections: str) -> None:
    """Point connection ids at URIs and make them the ones the endpoint checks."""
    for conn_id, uri in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", uri)
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", ",".join(connections))


def get_health(server: HealthServer) -> httpx.Response:
    return httpx.get(f"{server.url}/health", timeout=CLIENT_TIMEOUT)


def entries(response: httpx.Response) -> dict[str, dict[str, Any]]:
    return {q["conn_id"]: q for q in response.json()["queues"]}


def test_healthy_broker_200_with_depths(
    health_server: HealthServer, redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Durable (AOF, appendfsync always): a server without persistence is reported "degraded" (see below).
    redis = redis_process_factory(password=PASSWORD, durable=True)
    configure(monkeypatch, health_redis=redis.uri())

    response = get_health(health_server)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["warnings"]) == ("healthy", [])
    entry = entries(response)["health_redis"]
    assert entry["reachable"] is True
    assert entry["healthy"] is True
    assert entry["error"] is None
    assert entry["backend"] == "redis"
    assert entry["latency_ms"] is not None and entry["latency_ms"] >= 0
    assert entry["depth"] == 0
    assert PASSWORD not in response.text

    # The depth is the real length of the list the hook reports as its queue.
    redis.client().lpush(entry["queue"], "m1", "m2")
    again = entries(get_health(health_server))["health_redis"]
    assert again["depth"] == 2


def test_depth_and_announcement_time_after_a_real_publish(
    health_server: HealthServer, redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_hokusai.hooks.queue import get_queue_hook
    from airflow_provider_hokusai.messages.model_ready import build_model_ready_message

    redis = redis_process_factory(password=PASSWORD)
    configure(monkeypatch, health_redis=redis.uri())
    before = entries(get_health(health_server))["health_redis"]
    assert before["last_announcement_at"] is None

    message = build_model_ready_message(
        model_name="health-model",
        model_version=1,
        mlflow_run_id="0123456789abcdef0123456789abcdef",
        token_symbol="HLTH",
        metric_name="accuracy",
        current_value=0.95,
        baseline_value=0.9,
    )
    receipt = get_queue_hook("health_redis").publish(message)

    after = entries(get_health(health_server))["health_redis"]
    assert after["depth"] == 1
    # The time the broker recorded with the push: the receipt's.
    published_at = datetime.fromisoformat(after["last_announcement_at"])
    assert published_at == datetime.fromisoformat(receipt.published_at.replace("Z", "+00:00"))
    assert published_at.utcoffset() == timedelta(0)

    # A duplicate enqueues nothing and leaves the time alone.
    get_queue_hook("health_redis").publish(message)
    assert entries(get_health(health_server))["health_redis"]["last_announcement_at"] == after["last_announcement_at"]


def test_stopped_broker_503_unreachable(
    health_server: HealthServer, redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = redis_process_factory(password=PASSWORD)
    configure(monkeypatch, health_redis=redis.uri())
    assert get_health(health_server).status_code == 200

    redis.stop()
    response = get_health(health_server)
    assert response.status_code == 503, response.text
    assert response.json()["status"] == "unhealthy"
    entry = entries(response)["health_redis"]
    assert entry["reachable"] is False
    assert entry["healthy"] is False
    assert entry["error"]
    assert PASSWORD not in response.text


def test_one_stopped_broker_makes_the_whole_answer_503(
    health_server: HealthServer, redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    up = redis_process_factory()
    down = redis_process_factory()
    down.stop()
    configure(monkeypatch, health_up=up.uri(), health_down=down.uri())

    response = get_health(health_server)
    assert response.status_code == 503
    assert [(q["conn_id"], q["healthy"]) for q in response.json()["queues"]] == [
        ("health_up", True),
        ("health_down", False),
    ]


def test_hanging_broker_answers_within_the_bound(
    health_server: HealthServer,
    hanging_broker: HangingBroker,
    redis_process_factory: Callable[..., RedisProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    up = redis_process_factory()
    configure(
        monkeypatch,
        health_up=up.uri(),
        health_hangs=f"redis://:{PASSWORD}@127.0.0.1:{hanging_broker.port}/0",
    )

    response = get_health(health_server)
    assert response.status_code == 503, response.text
    by_id = entries(response)
    assert by_id["health_up"]["healthy"] is True
    hangs = by_id["health_hangs"]
    assert (hangs["reachable"], hangs["healthy"]) == (False, False)
    assert hangs["error"] == f"timed out after {HEALTH_TIMEOUT:g}s waiting for redis 127.0.0.1:{hanging_broker.port}"
    assert hanging_broker.accepted, "the check never reached the hanging broker"
    assert PASSWORD not in response.text

    # A second probe while the first check is still stuck does not start another one.
    accepted_before = len(hanging_broker.accepted)
    second = get_health(health_server)
    assert second.status_code == 503
    assert "still running" in entries(second)["health_hangs"]["error"]
    assert len(hanging_broker.accepted) == accepted_before


def test_hanging_sqs_endpoint_times_out_naming_queue_and_endpoint(
    health_server: HealthServer, hanging_broker: HangingBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {
        "conn_type": "aws",
        "login": "AKIDHEALTHTEST",
        "password": PASSWORD,
        "extra": {
            "region_name": "us-east-1",
            "endpoint_url": f"http://127.0.0.1:{hanging_broker.port}",
            "queue": "hokusai-model-ready",
        },
    }
    configure(monkeypatch, health_sqs=json.dumps(conn))

    response = get_health(health_server)
    assert response.status_code == 503, response.text
    entry = entries(response)["health_sqs"]
    assert (entry["reachable"], entry["healthy"]) == (False, False)
    target = f"sqs queue hokusai-model-ready at 127.0.0.1:{hanging_broker.port}"
    assert entry["error"] == f"timed out after {HEALTH_TIMEOUT:g}s waiting for {target}"
    assert PASSWORD not in response.text


def test_wrong_password_is_unhealthy_and_not_echoed(
    health_server: HealthServer, redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = redis_process_factory(password=PASSWORD)
    wrong = "not-the-Pa55word-41ab"
    configure(monkeypatch, health_redis=redis.uri(password=wrong))

    response = get_health(health_server)
    assert response.status_code == 503, response.text
    entry = entries(response)["health_redis"]
    assert entry["healthy"] is False
    assert entry["error"]
    assert wrong not in response.text
    assert PASSWORD not in response.text


def test_unknown_connection_is_reported_not_raised(
    health_server: HealthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_HEALTH_NOWHERE", raising=False)
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "health_nowhere")
    response = get_health(health_server)
    assert response.status_code == 503
    entry = entries(response)["health_nowhere"]
    assert (entry["reachable"], entry["healthy"]) == (False, False)
    assert "health_nowhere" in entry["error"]


def test_redis_without_persistence_is_degraded_200_with_a_warning(
    health_server: HealthServer, redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loss made visible: a probe alerts on "degraded" / ``warnings``; 200 still means every queue is reachable."""
    volatile = redis_process_factory(password=PASSWORD)  # --appendonly no
    durable = redis_process_factory(durable=True)
    configure(monkeypatch, health_volatile=volatile.uri(), health_durable=durable.uri())

    response = get_health(health_server)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    queues = entries(response)
    assert queues["health_volatile"]["healthy"] is True
    assert "appendonly" in queues["health_volatile"]["warning"]
    assert queues["health_durable"]["warning"] is None
    assert len(body["warnings"]) == 1 and body["warnings"][0].startswith("health_volatile: ")
    assert PASSWORD not in response.text

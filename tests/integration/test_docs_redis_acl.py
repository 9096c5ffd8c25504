"""The Redis ACL lines in docs/deployment.md, loaded as written into a real redis-server, are enough and no more."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.queue.redis_client import close_shared_pools
from tests.fixtures.redis import RedisProcess
from tests.integration.hooks.test_queue_contract import make_message

pytestmark = pytest.mark.integration

DEPLOYMENT = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
QUEUE = "hokusai:model_ready_queue"


def acl_line(user: str) -> list[str]:
    (line,) = re.findall(rf"^user {re.escape(user)} .*$", DEPLOYMENT.read_text(), re.MULTILINE)
    return shlex.split(line)[1:]


@pytest.fixture
def acl_server(redis_process_factory: Callable[..., RedisProcess]) -> Iterator[RedisProcess]:
    server = redis_process_factory()
    admin = server.client()
    for user in ("hokusai-producer", "hokusai-deployer"):
        admin.execute_command("ACL", "SETUSER", *acl_line(user))
    yield server
    close_shared_pools()


def as_user(server: RedisProcess, user: str) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=server.port, username=user, password="CHANGE-ME", socket_timeout=5)


def test_producer_acl_publishes_dedupes_and_reports(acl_server: RedisProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "redis", "host": "127.0.0.1", "port": acl_server.port, "login": "hokusai-producer"}
    monkeypatch.setenv("AIRFLOW_CONN_ACL_PRODUCER", json.dumps({**conn, "password": "CHANGE-ME"}))
    hook = get_queue_hook("acl_producer")
    message = make_message()

    assert hook.publish(message).duplicate is False
    assert hook.publish(message).duplicate is True  # MGET of the marker
    receipts = hook.publish_many([make_message(2), make_message(3), message])
    assert [r.duplicate for r in receipts] == [False, False, True]
    acl_server.client().script_flush()  # as after a restart: EVALSHA fails, SCRIPT LOAD, EVALSHA
    assert hook.publish(make_message(4)).duplicate is False
    status = hook.queue_status()
    assert (status.reachable, status.depth, status.processing_depth, status.dead_letter_depth) == (True, 4, 0, 0)
    assert hook.test_connection()[0] is True


def test_producer_acl_cannot_consume_or_touch_other_keys(acl_server: RedisProcess) -> None:
    import redis

    producer = as_user(acl_server, "hokusai-producer")
    for command in (("RPOP", QUEUE), ("LPUSH", "hokusai:dlq", "x"), ("GET", "other"), ("FLUSHALL",)):
        with pytest.raises(redis.exceptions.NoPermissionError):
            producer.execute_command(*command)


def test_deployer_acl_consumes_and_cannot_forge_dedup_markers(acl_server: RedisProcess) -> None:
    import redis

    acl_server.client().lpush(QUEUE, make_message().to_json())
    deployer = as_user(acl_server, "hokusai-deployer")

    body = deployer.lmove(QUEUE, "hokusai:processing_queue", "RIGHT", "LEFT")
    assert body is not None
    assert deployer.lrem("hokusai:processing_queue", 1, body) == 1
    assert deployer.lpush("hokusai:dlq", body) == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        deployer.set("{hokusai:model_ready_queue}:dedup:x", "1")

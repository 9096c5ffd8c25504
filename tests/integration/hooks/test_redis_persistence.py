"""
Loss made visible (issue 11, item 7): a Redis whose persistence cannot keep acknowledged announcements is reported.

On real redis-servers: one started with ``--appendonly no`` loses an acknowledged announcement when it restarts, and
its status carries a warning; one with AOF (``appendfsync always``) carries none; ``appendfsync no`` is warned
about; the producer ACL of docs/deployment.md is enough to read persistence, and an ACL without ``INFO`` yields
"persistence unknown" with the rest of the status intact.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.hooks.redis import RedisQueueHook
from airflow_provider_hokusai.queue.redis_client import close_shared_pools
from tests.fixtures.redis import RedisProcess
from tests.integration.hooks.test_queue_contract import make_message

pytestmark = pytest.mark.integration

DEPLOYMENT = Path(__file__).resolve().parents[3] / "docs" / "deployment.md"
QUEUE = "hokusai:model_ready_queue"


@pytest.fixture(autouse=True)
def _fresh_pools() -> Iterator[None]:
    yield
    close_shared_pools()


def hook_for(
    server: RedisProcess, monkeypatch: pytest.MonkeyPatch, conn_id: str = "persistence_test"
) -> RedisQueueHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", server.conn_json())
    hook = get_queue_hook(conn_id)
    assert isinstance(hook, RedisQueueHook)
    return hook


def test_appendonly_no_loses_an_acknowledged_announcement_and_says_so(
    redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = redis_process_factory()  # --appendonly no --save ""
    hook = hook_for(server, monkeypatch)

    receipt = hook.publish(make_message())
    assert receipt.duplicate is False
    status = hook.queue_status()

    assert status.reachable is True and status.error is None and status.depth == 1
    assert status.warning is not None
    assert "appendonly" in status.warning and "restart" in status.warning

    # What the warning is about: the acknowledged message and its dedup marker are gone after a restart.
    server.restart()
    close_shared_pools()
    assert server.client().llen(QUEUE) == 0
    assert hook_for(server, monkeypatch, "persistence_after").queue_status().warning is not None


def test_aof_always_has_no_warning_and_keeps_the_announcement(
    redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = redis_process_factory(durable=True)  # --appendonly yes --appendfsync always
    hook = hook_for(server, monkeypatch)
    hook.publish(make_message())

    status = hook.queue_status()
    assert (status.reachable, status.error, status.warning, status.depth) == (True, None, None, 1)

    server.restart()
    close_shared_pools()
    assert server.client().llen(QUEUE) == 1


def test_appendfsync_no_is_warned_about(
    redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = redis_process_factory(durable=True)
    server.client().config_set("appendfsync", "no")

    status = hook_for(server, monkeypatch).queue_status()
    assert status.reachable is True and status.error is None
    assert status.warning is not None and "appendfsync" in status.warning


def acl_line(user: str) -> list[str]:
    (line,) = re.findall(rf"^user {re.escape(user)} .*$", DEPLOYMENT.read_text(), re.MULTILINE)
    return shlex.split(line)[1:]


def producer_conn(server: RedisProcess, monkeypatch: pytest.MonkeyPatch, conn_id: str, acl: list[str]) -> None:
    server.client().execute_command("ACL", "SETUSER", *acl)
    conn = {"conn_type": "redis", "host": "127.0.0.1", "port": server.port, "login": acl[0], "password": "CHANGE-ME"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.mark.parametrize("durable", [False, True])
def test_the_documented_producer_acl_reads_persistence(
    redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    server = redis_process_factory(durable=durable)
    producer_conn(server, monkeypatch, "acl_persistence", acl_line("hokusai-producer"))

    status = get_queue_hook("acl_persistence").queue_status()

    assert status.reachable is True and status.error is None and status.depth == 0
    if durable:
        assert status.warning is None
    else:
        assert status.warning is not None and "appendonly" in status.warning


def test_an_acl_without_info_reports_persistence_unknown(
    redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = redis_process_factory(durable=True)
    narrow = [a for a in acl_line("hokusai-producer") if a != "+info"]
    producer_conn(server, monkeypatch, "acl_no_info", narrow)

    status = get_queue_hook("acl_no_info").queue_status()

    assert (status.reachable, status.error, status.depth, status.dead_letter_depth) == (True, None, 0, 0)
    assert status.warning is not None and status.warning.startswith("persistence unknown")

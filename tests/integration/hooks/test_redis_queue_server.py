"""RedisQueueHook against real redis-server processes: faults, lost replies, credentials, TTLs, pools, metrics."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import (
    QueuePermanentError,
    QueuePublishError,
)
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.hooks.redis import DEDUP_PUSH_LUA, RedisQueueHook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.queue.redis_client import close_shared_pools
from airflow_provider_hokusai.queue.retry import RetryPolicy
from tests.fixtures.redis import RedisProcess
from tests.integration.hooks.test_queue_contract import make_message

pytestmark = pytest.mark.integration

QUEUE = "hokusai:model_ready_queue"
PASSWORD = "hokusai-redis-Pa55-71c4"
FAST_RETRY = RetryPolicy(attempts=3, backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture(autouse=True)
def _fresh_pools() -> Iterator[None]:
    yield
    close_shared_pools()


def use(monkeypatch: pytest.MonkeyPatch, conn_id: str, server: RedisProcess, **extra: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", server.conn_json(**extra))
    return conn_id


def queued_ids(server: RedisProcess, queue: str = QUEUE) -> list[str]:
    return [ModelReadyToDeployMessage.from_json(b).message_id for b in server.client().lrange(queue, 0, -1)]


def test_broker_killed_and_restarted_during_a_run_loses_nothing_and_doubles_nothing(
    redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = redis_process_factory(durable=True)
    conn_id = use(monkeypatch, "restart_redis", server, socket_timeout=1, socket_connect_timeout=1)
    messages = [make_message(v) for v in range(1, 101)]
    done = 0
    progress = threading.Condition()
    outcomes: list[str] = []

    def chaos() -> None:
        # SIGKILL the broker twice in the middle of the run; it comes back on the same port with its append-only
        # file. The outage outlasts the in-task retry policy, so publishes fail and are retried like Airflow would.
        for after in (30, 70):
            with progress:
                progress.wait_for(lambda after=after: done >= after, timeout=60)  # type: ignore[misc]
            server.kill()
            time.sleep(0.3)
            server.start()

    thread = threading.Thread(target=chaos)
    thread.start()
    try:
        for message in messages:
            for _ in range(200):
                try:
                    receipt = get_queue_hook(conn_id, retry=FAST_RETRY).publish(message)
                except QueuePublishError:
                    # What Airflow does with a retryable error: run the task again, i.e. publish the same message.
                    outcomes.append("task-retry")
                    time.sleep(0.02)
                    continue
                outcomes.append("duplicate" if receipt.duplicate else "published")
                break
            else:
                pytest.fail(f"message {message.model_version} never got through")
            with progress:
                done += 1
                progress.notify_all()
    finally:
        thread.join(timeout=60)

    assert outcomes.count("task-retry") >= 2  # both outages really hit publishes
    ids = queued_ids(server)
    assert sorted(ids) == sorted(m.message_id for m in messages)  # every message arrived...
    assert len(ids) == len(set(ids))  # ...and none twice


class LostReplyProxy:
    """A TCP proxy to redis that forwards the first EVALSHA, then drops its reply and the connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.stopped = False
        self.threads: list[threading.Thread] = []

    def start(self) -> LostReplyProxy:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for args in ((client, upstream, False), (upstream, client, True)):
                thread = threading.Thread(target=self._pipe, args=args, daemon=True)
                thread.start()
                self.threads.append(thread)

    def _pipe(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if replies and self.armed.is_set() and not self.dropped.is_set():
                    # The server ran the script; its reply never reaches the client, whose connection breaks.
                    self.dropped.set()
                    break
                if not replies and b"EVALSHA" in data.upper() and not self.dropped.is_set():
                    self.armed.set()
                sink.sendall(data)
        for end in (source, sink):
            # shutdown() wakes the thread blocked on the other direction; close() alone would not.
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                end.close()

    def close(self) -> None:
        self.stopped = True
        self.listener.close()


def test_retry_after_a_lost_reply_never_pushes_twice(
    redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_server.client().flushall()
    # Loaded beforehand, so that the first EVALSHA really runs the script (rather than answering NOSCRIPT).
    redis_server.client().script_load(DEDUP_PUSH_LUA)
    proxy = LostReplyProxy(redis_server.port).start()
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LOSSY_REDIS",
            f'{{"conn_type": "redis", "host": "127.0.0.1", "port": {proxy.port}, "extra": {{"socket_timeout": 2}}}}',
        )
        message = make_message()
        receipt = get_queue_hook("lossy_redis", retry=FAST_RETRY).publish(message)
    finally:
        proxy.close()

    assert proxy.dropped.is_set()
    # The first try ran on the server; the retry found its marker and pushed nothing.
    assert receipt.attempts == 2
    assert receipt.duplicate is True
    assert queued_ids(redis_server) == [message.message_id]


def test_unreachable_broker_raises_a_retryable_error_after_the_policy(
    redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch, redis_process_factory: Callable[..., RedisProcess]
) -> None:
    server = redis_process_factory()
    conn_id = use(monkeypatch, "gone_redis", server, socket_connect_timeout=1)
    server.stop()
    policy = RetryPolicy(attempts=3, backoff_base=0.01, backoff_cap=0.02)

    with pytest.raises(QueuePublishError) as info:
        get_queue_hook(conn_id, retry=policy).publish(make_message())
    assert "after 3 attempt(s)" in str(info.value)
    assert "a retry is safe" in str(info.value)

    status = get_queue_hook(conn_id).queue_status()
    assert (status.reachable, status.depth) == (False, None)
    assert status.error
    ok, text = get_queue_hook(conn_id).test_connection()
    assert ok is False
    assert QUEUE in text


def test_wrong_password_is_permanent_and_never_echoed(
    redis_process_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = redis_process_factory(password=PASSWORD)
    wrong = "not-the-Pa55word-93d1"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOCKED_REDIS",
        f'{{"conn_type": "redis", "host": "127.0.0.1", "port": {server.port}, "password": "{wrong}"}}',
    )
    with pytest.raises(QueuePermanentError) as info:
        get_queue_hook("locked_redis").publish(make_message())
    ok, text = get_queue_hook("locked_redis").test_connection()
    status = get_queue_hook("locked_redis").queue_status()

    assert ok is False
    assert status.reachable is False
    for shown in (str(info.value), text, str(status.error), repr(info.value.__cause__)):
        assert wrong not in shown
        assert PASSWORD not in shown

    # With the right password the same server takes the message.
    use(monkeypatch, "open_redis", server)
    assert get_queue_hook("open_redis").publish(make_message()).duplicate is False


def test_a_key_of_the_wrong_type_is_permanent_and_leaves_no_marker(
    redis_queue_conn: str, redis_server: RedisProcess
) -> None:
    client = redis_server.client()
    client.set(QUEUE, "not a list")
    message = make_message()
    hook = get_queue_hook(redis_queue_conn)

    with pytest.raises(QueuePermanentError, match="WRONGTYPE"):
        hook.publish(message)
    assert client.exists(hook.dedup_key(message.message_id)) == 0  # type: ignore[attr-defined]
    ok, text = hook.test_connection()
    assert ok is False
    assert "not a list" in text

    client.delete(QUEUE)
    assert hook.publish(message).duplicate is False
    assert queued_ids(redis_server) == [message.message_id]


def test_dedup_ttl_comes_from_the_hook_then_the_connection_then_seven_days(
    redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis_server.client()
    client.flushall()
    use(monkeypatch, "ttl_redis", redis_server, dedup_ttl_seconds=3600)
    use(monkeypatch, "plain_redis", redis_server)

    from_conn = get_queue_hook("ttl_redis", queue_name="q1")
    from_arg = get_queue_hook("ttl_redis", queue_name="q2", dedup_ttl_seconds=120)
    default = get_queue_hook("plain_redis", queue_name="q3")
    message = make_message()
    for hook in (from_conn, from_arg, default):
        hook.publish(message)

    def ttl(hook: Any) -> int:
        return int(client.ttl(hook.dedup_key(message.message_id)))

    assert 3590 <= ttl(from_conn) <= 3600
    assert 110 <= ttl(from_arg) <= 120
    assert 7 * 24 * 3600 - 10 <= ttl(default) <= 7 * 24 * 3600
    # Dedup is per queue: the same message went once onto each of the three lists.
    assert [client.llen(q) for q in ("q1", "q2", "q3")] == [1, 1, 1]


def test_queue_names_come_from_the_connection_and_status_reads_all_three_lists(
    redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis_server.client()
    client.flushall()
    use(
        monkeypatch, "named_redis", redis_server, queue="q:ready", processing_queue="q:work", dead_letter_queue="q:dead"
    )
    client.rpush("q:work", "a", "b")
    client.rpush("q:dead", "c")

    hook = get_queue_hook("named_redis")
    hook.publish(make_message())
    status = hook.queue_status()

    assert (status.queue, status.depth, status.processing_depth, status.dead_letter_depth) == ("q:ready", 1, 2, 1)
    assert get_queue_hook("named_redis", queue_name="q:other").queue_name == "q:other"


def test_one_pool_per_connection_per_process(redis_queue_conn: str, redis_server: RedisProcess) -> None:
    def our_clients() -> set[str]:
        return {c["id"] for c in redis_server.client().client_list() if c.get("name") == "airflow-provider-hokusai"}

    before = our_clients()
    first = get_queue_hook(redis_queue_conn)
    second = get_queue_hook(redis_queue_conn)
    assert isinstance(first, RedisQueueHook) and isinstance(second, RedisQueueHook)
    for version in range(1, 21):
        (first if version % 2 else second).publish(make_message(version))

    assert second.client.connection_pool is first.client.connection_pool
    assert first.get_conn() is first.client
    # Seen from the server: sequential publishes through two hooks used one connection, not one per publish.
    assert len(our_clients() - before) == 1


def test_publishes_from_many_threads_share_the_bounded_pool(redis_queue_conn: str, redis_server: RedisProcess) -> None:
    hook = get_queue_hook(redis_queue_conn)
    messages = [make_message(v) for v in range(1, 41)]
    errors: list[BaseException] = []

    def worker(chunk: list[ModelReadyToDeployMessage]) -> None:
        try:
            for message in chunk:
                get_queue_hook(redis_queue_conn).publish(message)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(messages[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(queued_ids(redis_server)) == sorted(m.message_id for m in messages)
    assert hook.queue_status().depth == 40


def test_metrics_count_published_duplicate_failed_and_time(
    redis_queue_conn: str, monkeypatch: pytest.MonkeyPatch, redis_process_factory: Callable[..., RedisProcess]
) -> None:
    from airflow.sdk.observability.stats import Stats

    from airflow_provider_hokusai.utils import metrics

    calls: list[tuple[str, str, Any, dict[str, str]]] = []
    monkeypatch.setattr(
        Stats, "incr", lambda stat, count=1, rate=1, *, tags=None: calls.append(("incr", stat, count, tags or {}))
    )
    monkeypatch.setattr(Stats, "timing", lambda stat, dt, *, tags=None: calls.append(("timing", stat, dt, tags or {})))

    hook = get_queue_hook(redis_queue_conn)
    message = make_message()
    hook.publish(message)
    hook.publish(message)
    down = redis_process_factory()
    conn_id = use(monkeypatch, "down_redis", down)
    down.stop()
    with pytest.raises(QueuePublishError):
        get_queue_hook(conn_id, retry=RetryPolicy(attempts=2, backoff_base=0.0, backoff_cap=0.0)).publish(message)

    # "hokusai:model_ready_queue" as a tag: ':' is refused in metric names, so it reads "hokusai_model_ready_queue".
    tags = {"backend": "redis", "queue": QUEUE.replace(":", "_")}
    assert ("incr", metrics.QUEUE_PUBLISHED, 1, tags) in calls
    assert ("incr", metrics.QUEUE_DUPLICATE, 1, tags) in calls
    assert ("incr", metrics.QUEUE_RETRIED, 1, tags) in calls
    assert ("incr", metrics.QUEUE_FAILED, 1, {**tags, "reason": "retryable"}) in calls
    timings = [c for c in calls if c[0] == "timing"]
    assert [c[1] for c in timings] == [metrics.QUEUE_PUBLISH_DURATION] * 2
    assert all(c[2] >= 0 and c[3] == tags for c in timings)
    assert all(name.startswith("hokusai.") for _, name, _, _ in calls)

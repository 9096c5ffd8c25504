"""
Publish ``model_ready_to_deploy`` messages onto a Redis list, exactly once per message id.

Uses the official ``redis`` connection type (host, port, login as ACL user, password; ``rediss`` or the extra ``ssl``
with the official hook's ``ssl_*`` keys for TLS) and redis-py directly, because a queue producer needs what the
official ``RedisHook.get_conn`` does not offer: a connection pool shared per connection within the process, timeouts,
and redis-py's ``Retry`` as the one retry layer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import redis
from redis import exceptions as rex

from airflow_provider_hokusai.exceptions import HokusaiError
from airflow_provider_hokusai.hooks.base_queue import ModelReadyQueueHook
from airflow_provider_hokusai.queue.connection_types import REDIS_CONN_TYPE, REDIS_HOOK_NAME
from airflow_provider_hokusai.queue.receipts import QueueStatus, Sent, elapsed_ms
from airflow_provider_hokusai.queue.redis_client import CountingRetry, shared_pool
from airflow_provider_hokusai.queue.redis_errors import redis_error
from airflow_provider_hokusai.queue.settings import (
    DEFAULT_QUEUE,
    RedisQueueExtra,
    RedisQueueSettings,
)
from airflow_provider_hokusai.utils.connections import connection
from airflow_provider_hokusai.utils.redaction import describe

if TYPE_CHECKING:
    from airflow_provider_hokusai.messages import ModelReadyToDeployMessage

__all__ = ["DEDUP_PUSH_LUA", "HokusaiRedisQueueHook", "RedisQueueHook", "hash_tag"]


# One atomic server-side step, so a retry after a lost reply never pushes twice: SET NX claims the message id (its
# value is when it was first enqueued, its TTL the dedup window), and only a claim that succeeds pushes; a duplicate
# gets the first enqueue time back. Redis does not roll a script back, so a failed LPUSH (e.g. the key holds a
# string) releases the claim. A push also records its time under the queue's "last announcement" key (health).
# KEYS: marker, queue, last-announcement key; ARGV: body, published_at, ttl seconds.
# Returns the new list length (a number), or the first enqueue time (a string) for a duplicate.
DEDUP_PUSH_LUA = """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  return redis.call('GET', KEYS[1])
end
local depth = redis.pcall('LPUSH', KEYS[2], ARGV[1])
if type(depth) == 'table' and depth.err then
  redis.call('DEL', KEYS[1])
  return depth
end
redis.call('SET', KEYS[3], ARGV[2])
return depth
"""
_DEDUP_PUSH_SHA = hashlib.sha1(DEDUP_PUSH_LUA.encode()).hexdigest()  # Redis names scripts by their SHA1


def hash_tag(queue: str) -> str:
    """
    A key prefix that lands in the queue's cluster slot, so the script's keys may be used together.

    A queue name with its own hash tag (``{...}`` with something inside) is kept; otherwise the whole name becomes
    the tag, which hashes exactly like the unbraced queue name.
    """
    start = queue.find("{")
    if start != -1 and queue.find("}", start + 1) > start + 1:
        return queue
    return "{" + queue + "}"


class RedisQueueHook(ModelReadyQueueHook):
    """
    Publish ``model_ready_to_deploy`` messages onto a Redis list (LPUSH; Hokusai's token deployer pops from the right).

    The connection's extras are :class:`RedisQueueExtra`'s. Idempotence: one Lua script checks the message id's
    marker, pushes and sets the marker with its TTL as one atomic step, so a publish retried after a lost reply (by
    redis-py, or by Airflow's task retry) never pushes twice within the TTL. Several messages share one pipeline.

    :param redis_conn_id: The ``redis`` connection. (templated in the operators)
    :param queue_name: The list to push to; overrides the extra ``queue``.
    :param retry: Bounded retries of a publish by redis-py (connection errors, timeouts, a read-only replica).
    :param dedup_ttl_seconds: Dedup marker lifetime; overrides the extra; default 7 days.
    :param max_message_bytes: Size limit; overrides the extra; default 256 KiB.
    """

    conn_name_attr = "redis_conn_id"
    default_conn_name = "redis_default"
    conn_type = "redis"
    hook_name = "Hokusai queue (Redis)"
    backend = "redis"

    def __init__(self, redis_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redis_conn_id = redis_conn_id

    @cached_property
    def settings(self) -> RedisQueueSettings:
        """The validated connection settings."""
        return RedisQueueSettings.of(connection(self.redis_conn_id, "redis_conn_id", "queue configuration"))

    @property
    def extra(self) -> RedisQueueExtra:
        return self.settings.extra

    @cached_property
    def queue_name(self) -> str:
        return self.args.queue_name or self.extra.queue or DEFAULT_QUEUE

    @cached_property
    def client(self) -> redis.Redis:
        """A redis-py client on the connection's shared pool (no I/O until the first command)."""
        return redis.Redis(connection_pool=shared_pool(self.redis_conn_id, self.settings, self.retry_policy))

    @cached_property
    def _retry(self) -> CountingRetry:
        return cast("CountingRetry", self.client.connection_pool.connection_kwargs["retry"])

    def get_conn(self) -> redis.Redis:
        return self.client

    @cached_property
    def _key_prefix(self) -> str:
        return hash_tag(self.queue_name)

    def dedup_key(self, message_id: str) -> str:
        """The marker key of ``message_id`` for this queue."""
        return f"{self._key_prefix}:dedup:{message_id}"

    @cached_property
    def last_announcement_key(self) -> str:
        """The key holding when a message was last enqueued on this queue (not a duplicate)."""
        return f"{self._key_prefix}:last_announcement_at"

    # Publishing.

    def _send(
        self, messages: Sequence[ModelReadyToDeployMessage], bodies: Sequence[str], now: str
    ) -> list[Sent | HokusaiError]:
        queue, last, ttl = self.queue_name, self.last_announcement_key, self.dedup_ttl_seconds
        calls = [
            (self.dedup_key(m.message_id), queue, last, b, now, ttl) for m, b in zip(messages, bodies, strict=True)
        ]
        self._retry.reset()
        try:
            results = self._run_script(calls)
            # NOSCRIPT: the server lost its scripts (a restart); those calls ran nothing, so load once and rerun them.
            lost = [i for i, r in enumerate(results) if isinstance(r, rex.NoScriptError)]
            if lost:
                self.client.script_load(DEDUP_PUSH_LUA)
                for i, result in zip(lost, self._run_script([calls[i] for i in lost]), strict=True):
                    results[i] = result
        except rex.RedisError as exc:
            raise self._translate(exc) from exc
        return [self._outcome(r) for r in results]

    def _run_script(self, calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        if len(calls) == 1:
            # One message: the same round trip without a pipeline, which costs more Python than the call itself.
            try:
                return [self.client.execute_command("EVALSHA", _DEDUP_PUSH_SHA, 3, *calls[0])]
            except rex.ResponseError as exc:
                return [exc]
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command("EVALSHA", _DEDUP_PUSH_SHA, 3, *call)
        return list(pipe.execute(raise_on_error=False))

    def _outcome(self, result: Any) -> Sent | HokusaiError:
        if isinstance(result, Exception):
            return self._translate(result)
        if isinstance(result, bytes | str):
            return Sent(duplicate=True, published_at=_text(result))
        return Sent()

    def _attempts(self) -> int:
        # redis-py reports the last failure too, before it gives up: then failures == attempts.
        failures = self._retry.failures if "_retry" in self.__dict__ else 0
        return min(1 + failures, self.retry_policy.attempts)

    def _translate(self, exc: Exception) -> HokusaiError:
        return redis_error(exc, f"redis list {self.queue_name!r} at {self.settings.address}", self._attempts())

    # Status and connection test.

    def queue_status(self) -> QueueStatus:
        """
        Length of the queue, processing and dead-letter lists, the last enqueue time and the server's persistence,
        in one round trip.

        Never raises for an unreachable broker or a bad connection: ``reachable=False`` with the error. A server
        that would lose an acknowledged announcement on restart (``appendonly no``, ``appendfsync no``), or whose
        persistence the connection may not read, gets a ``warning``
        (:func:`~airflow_provider_hokusai.queue.persistence.persistence_warning`).
        """
        from airflow_provider_hokusai.queue.persistence import CONFIG_PATTERN, persistence_warning

        start = time.perf_counter()
        try:
            extra = self.extra
            pipe = self.client.pipeline(transaction=False)
            for name in (self.queue_name, extra.processing_queue, extra.dead_letter_queue):
                pipe.llen(name)
            pipe.get(self.last_announcement_key)
            pipe.info("persistence")
            pipe.config_get(CONFIG_PATTERN)
            # Errors come back as values: an ACL that refuses INFO or CONFIG must not make the queue unreachable,
            # while a failing LLEN/GET (e.g. a key of the wrong type) still does.
            *reads, info, config = pipe.execute(raise_on_error=False)
            failed = next((r for r in reads if isinstance(r, Exception)), None)
            if failed is not None:
                raise failed
            depth, processing, dead, last = reads
        except Exception as exc:
            return QueueStatus(self.backend, self._queue_or_arg(), reachable=False, error=describe(exc))
        last_at = _text(last) if last is not None else None
        return QueueStatus(
            self.backend,
            self.queue_name,
            True,
            elapsed_ms(start),
            depth,
            processing,
            dead,
            None,
            last_at,
            persistence_warning(info, config),
        )

    def test_connection(self) -> tuple[bool, str]:
        """
        PING the server, then check the queue key is a list (or absent) and read its length: once, on a connection
        of its own, each call bounded (:func:`~airflow_provider_hokusai.queue.checks.bounded_redis`).
        """
        from airflow_provider_hokusai.queue.checks import bounded_redis

        try:
            queue = self.queue_name
            with bounded_redis(self.settings) as client:
                client.ping()
                kind = _text(client.type(queue))
                if kind not in ("list", "none"):
                    return False, f"Redis key {queue!r} holds a {kind}, not a list; the queue cannot use it"
                depth = client.llen(queue)
        except Exception as exc:
            return False, f"Cannot use redis list {self._queue_or_arg()!r}: {describe(exc)}"
        return True, f"Connected to {self.settings.address}; list {queue!r} holds {depth} message(s)"

    def _queue_or_arg(self) -> str:
        try:
            return self.queue_name
        except HokusaiError:
            return self.args.queue_name or DEFAULT_QUEUE


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class HokusaiRedisQueueHook(RedisQueueHook):
    """
    :class:`RedisQueueHook` for a ``hokusai_redis`` connection: the same connection, whose UI **Test** button runs
    this hook's bounded ``test_connection`` (the official type's hook tests nothing useful for a queue).
    """

    conn_type = REDIS_CONN_TYPE
    hook_name = REDIS_HOOK_NAME

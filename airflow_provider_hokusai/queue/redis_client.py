"""The Redis client of a queue connection: one pool per connection per process, and redis-py's ``Retry`` made the
one retry layer of every command on it.

The official ``RedisHook.get_conn`` builds a fresh, unpooled client without timeouts or a retry policy; a queue
producer needs all three, so the hook gets its client here, from the connection's validated settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import redis
from redis.retry import Retry

from airflow_provider_hokusai.queue.redis_errors import REDIS_ACCESS, REDIS_RETRYABLE
from airflow_provider_hokusai.queue.retry import RetryPolicy
from airflow_provider_hokusai.queue.settings import RedisQueueSettings

__all__ = ["CountingRetry", "close_shared_pools", "shared_pool"]

T = TypeVar("T")

_POOLS: dict[str, tuple[str, redis.ConnectionPool]] = {}
_POOLS_LOCK = threading.Lock()


class CountingRetry(Retry):
    """
    redis-py's ``Retry`` of a policy, made the one retry layer: only the outermost retrying call of a thread retries.

    redis-py nests its retries (a connect retries inside a command's retry, a health-check PING inside a connect);
    nested calls here run once and leave the retrying to the outer one, so a publish in a total outage opens at most
    ``attempts`` connections. A refused login is never retried. Failures are counted per thread (receipts,
    ``hokusai.queue.retried``). Connections deep-copy their ``Retry``; this one is shared, as it keeps no other state.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(policy.to_redis_backoff(), policy.retries, supported_errors=REDIS_RETRYABLE)
        self._local = threading.local()

    def __deepcopy__(self, memo: dict[int, Any]) -> CountingRetry:
        return self

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[[Exception], Any] | Callable[[Exception, int], Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        local = self._local
        if getattr(local, "active", False):
            return do()  # nested in a retrying call of this thread: that one retries, so this one runs once
        local.active = True
        try:
            # redis-py passes no is_retryable of its own on the command path: no per-call wrapper is needed there.
            check = self._retryable if is_retryable is None else partial(self._retryable_if, is_retryable)
            return super().call_with_retry(do, fail, check, with_failure_count)
        finally:
            local.active = False

    def _retryable(self, error: Exception) -> bool:
        """Whether to retry ``error``; redis-py asks before counting each failure, the last one included."""
        if isinstance(error, REDIS_ACCESS):
            return False
        self._local.failures = self.failures + 1
        return True

    def _retryable_if(self, is_retryable: Callable[[Exception], bool], error: Exception) -> bool:
        return is_retryable(error) and self._retryable(error)

    @property
    def failures(self) -> int:
        return int(getattr(self._local, "failures", 0))

    def reset(self) -> None:
        self._local.failures = 0


def shared_pool(conn_id: str, settings: RedisQueueSettings, policy: RetryPolicy) -> redis.ConnectionPool:
    """
    The process's pool for ``conn_id``; a changed connection (rotated password, new host) or policy gets a new pool.

    redis-py pools reset themselves after a fork, so a pool made in the parent is safe in a task's child process.
    """
    key = settings.pool_key(policy)
    with _POOLS_LOCK:
        current = _POOLS.get(conn_id)
        if current is not None and current[0] == key:
            return current[1]
        extra = settings.extra
        pool = redis.BlockingConnectionPool(
            connection_class=redis.SSLConnection if settings.tls else redis.Connection,
            max_connections=extra.max_connections,
            timeout=extra.socket_connect_timeout,  # waiting for a free connection is bounded like connecting is
            socket_timeout=extra.socket_timeout,
            socket_connect_timeout=extra.socket_connect_timeout,
            socket_keepalive=True,
            health_check_interval=extra.health_check_interval,
            retry=CountingRetry(policy),
            client_name="airflow-provider-hokusai",
            **settings.connection_kwargs(),
        )
        _POOLS[conn_id] = (key, pool)
    if current is not None:
        current[1].disconnect(inuse_connections=False)
    return pool


def close_shared_pools() -> None:
    """Disconnect and forget every shared pool (tests, or a process that is about to exit)."""
    with _POOLS_LOCK:
        pools = [pool for _, pool in _POOLS.values()]
        _POOLS.clear()
    for pool in pools:
        pool.disconnect()

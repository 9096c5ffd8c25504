"""
Publish ``model_ready_to_deploy`` messages onto a Redis list, exactly once per message id.

Built on the official :class:`airflow.providers.redis.hooks.redis.RedisHook` and its ``redis`` connection type
(``rediss`` or the extra ``ssl`` for TLS), with what a queue producer needs on top: an explicit connection pool
shared per connection within the process, timeouts, bounded retries and an atomic dedup-and-push script.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.redis.hooks.redis import RedisHook

from airflow_provider_hokusai.exceptions import (
    InvalidQueueConfiguration,
    QueueAccessDeniedError,
    QueuePermanentError,
    QueuePublishError,
)
from airflow_provider_hokusai.hooks.queue import (
    ModelReadyQueueHook,
    PublishReceipt,
    QueueStatus,
    describe_error,
    elapsed_ms,
    extra_float,
    extra_int,
    utc_timestamp,
)
from airflow_provider_hokusai.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from redis import ConnectionPool, Redis
    from redis.commands.core import Script

    from airflow_provider_hokusai.messages import ModelReadyToDeployMessage

T = TypeVar("T")

DEFAULT_QUEUE = "hokusai:model_ready_queue"
DEFAULT_PROCESSING_QUEUE = "hokusai:processing_queue"
DEFAULT_DEAD_LETTER_QUEUE = "hokusai:dlq"

DEFAULT_MAX_CONNECTIONS = 16
DEFAULT_SOCKET_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_HEALTH_CHECK_INTERVAL = 30
# Same names as the official RedisHook reads from the extra.
SSL_EXTRA_KEYS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname")

# One atomic server-side step, so a retry after a lost reply never pushes twice: SET NX claims the message id (its
# value is when it was first enqueued, its TTL the dedup window), and only a claim that succeeds pushes. Redis does
# not roll a script back, so a failed LPUSH (e.g. the key holds a string) releases the claim: no marker is left
# for a message that was never enqueued. A successful push also records its time under the queue's
# "last announcement" key, which the health endpoint reports. Three commands keep EVALSHA close to a bare LPUSH.
# KEYS: marker, queue, last-announcement key; ARGV: body, published_at, ttl seconds.
# Returns the new list length, or 0 for a duplicate.
DEDUP_PUSH_LUA = """
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  return 0
end
local depth = redis.pcall('LPUSH', KEYS[2], ARGV[1])
if type(depth) == 'table' and depth.err then
  redis.call('DEL', KEYS[1])
  return depth
end
redis.call('SET', KEYS[3], ARGV[2])
return depth
"""

# Retrying a status check once hides a pooled connection that went stale across a broker restart, not an outage.
_STATUS_RETRY = RetryPolicy(attempts=2, backoff_base=0.0, backoff_cap=0.0, jitter="none")

_POOLS: dict[str, tuple[str, ConnectionPool]] = {}
_POOLS_LOCK = threading.Lock()


def hash_tag(queue: str) -> str:
    """
    A key prefix that lands in the queue's cluster slot, so the script's keys may be used together.

    A queue name with its own hash tag (``{...}`` with something inside) is kept; otherwise the whole name becomes
    the tag, which hashes exactly like the unbraced queue name.
    """
    start = queue.find("{")
    if start != -1:
        end = queue.find("}", start + 1)
        if end > start + 1:
            return queue
    return "{" + queue + "}"


@dataclass(frozen=True)
class RedisQueueSettings:
    """Everything read from the connection and the hook's arguments, resolved once."""

    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    ssl: bool
    ssl_args: tuple[tuple[str, Any], ...]
    max_connections: int
    socket_timeout: float
    socket_connect_timeout: float
    health_check_interval: int
    queue: str
    processing_queue: str
    dead_letter_queue: str

    def pool_key(self) -> str:
        # The password is only hashed, so the registry never holds it in a readable key.
        parts = [
            self.host,
            self.port,
            self.db,
            self.username,
            hashlib.sha256((self.password or "").encode()).hexdigest(),
            self.ssl,
            self.ssl_args,
            self.max_connections,
            self.socket_timeout,
            self.socket_connect_timeout,
            self.health_check_interval,
        ]
        return repr(parts)

    @property
    def address(self) -> str:
        return f"{'rediss' if self.ssl else 'redis'}://{self.host}:{self.port}/{self.db}"


def shared_pool(conn_id: str, settings: RedisQueueSettings) -> ConnectionPool:
    """
    The process's pool for ``conn_id``; a changed connection (rotated password, new host) gets a new pool.

    redis-py pools reset themselves after a fork, so a pool made in the parent is safe in a task's child process.
    """
    key = settings.pool_key()
    with _POOLS_LOCK:
        current = _POOLS.get(conn_id)
        if current is not None and current[0] == key:
            return current[1]
        pool = _make_pool(settings)
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


def _make_pool(settings: RedisQueueSettings) -> ConnectionPool:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "db": settings.db,
        "username": settings.username,
        "password": settings.password,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_connect_timeout,
        "socket_keepalive": True,
        "health_check_interval": settings.health_check_interval,
        # The hooks retry whole publishes with their RetryPolicy; retrying inside redis-py as well would multiply
        # the attempts.
        "retry": Retry(NoBackoff(), 0),
        "client_name": "airflow-provider-hokusai",
    }
    kwargs.update(dict(settings.ssl_args))
    return redis.BlockingConnectionPool(
        connection_class=redis.SSLConnection if settings.ssl else redis.Connection,
        max_connections=settings.max_connections,
        # Waiting for a free connection is bounded like connecting is.
        timeout=settings.socket_connect_timeout,
        **kwargs,
    )


class RedisQueueHook(ModelReadyQueueHook, RedisHook):
    """
    Publish ``model_ready_to_deploy`` messages onto a Redis list (LPUSH; Hokusai's token deployer pops from the
    right).

    Uses the official ``redis`` connection type: host, port, login (ACL user), password; ``rediss`` or the extra
    ``ssl`` (with the official hook's ``ssl_*`` keys) for TLS. Extra keys read by this hook:

    * ``db`` (default 0);
    * ``queue``, ``processing_queue``, ``dead_letter_queue``: list names (defaults ``hokusai:model_ready_queue``,
      ``hokusai:processing_queue``, ``hokusai:dlq``);
    * ``max_connections`` (16), ``socket_timeout`` (5 s), ``socket_connect_timeout`` (5 s),
      ``health_check_interval`` (30 s; 0 turns the idle-connection PING off): the shared pool's knobs;
    * ``dedup_ttl_seconds`` (7 days), ``max_message_bytes`` (256 KiB).

    Idempotence: one Lua script checks the message id's marker, pushes and sets the marker with its TTL, as one
    atomic step, so a publish retried after a lost reply (or a task retried by Airflow) never pushes twice within the
    TTL. Keys of the script share the queue's cluster slot (see :func:`hash_tag`).

    :param redis_conn_id: The ``redis`` connection. (templated in the operators)
    :param queue_name: The list to push to; overrides the extra ``queue``.
    :param processing_queue: The consumer's processing list, for :meth:`queue_status`.
    :param dead_letter_queue: The consumer's dead-letter list, for :meth:`queue_status`.
    :param retry: Bounded in-task retries of a publish on connection errors and timeouts.
    :param dedup_ttl_seconds: Dedup marker lifetime; overrides the extra; default 7 days.
    :param max_message_bytes: Size limit; overrides the extra; default 256 KiB.
    :param connection: An already fetched Airflow connection (saves a lookup; :func:`get_queue_hook` passes it).
    """

    conn_name_attr = "redis_conn_id"
    default_conn_name = "redis_default"
    conn_type = "redis"
    hook_name = "Hokusai queue (Redis)"
    backend = "redis"

    def __init__(
        self,
        redis_conn_id: str = default_conn_name,
        *,
        queue_name: str | None = None,
        processing_queue: str | None = None,
        dead_letter_queue: str | None = None,
        retry: RetryPolicy | None = None,
        dedup_ttl_seconds: int | None = None,
        max_message_bytes: int | None = None,
        connection: Connection | None = None,
    ) -> None:
        RedisHook.__init__(self, redis_conn_id=redis_conn_id)
        ModelReadyQueueHook.__init__(
            self, retry=retry, dedup_ttl_seconds=dedup_ttl_seconds, max_message_bytes=max_message_bytes
        )
        for field, value in (
            ("queue_name", queue_name),
            ("processing_queue", processing_queue),
            ("dead_letter_queue", dead_letter_queue),
        ):
            if value is not None and not isinstance(value, str):
                raise InvalidQueueConfiguration([(field, "must be a string")])
        self._queue_arg = queue_name or None
        self._processing_arg = processing_queue or None
        self._dead_letter_arg = dead_letter_queue or None
        self._given_connection = connection

    # Connection and client: resolved on first use, then cached.

    def _connection(self) -> Connection:
        return self._airflow_connection

    def _extra(self) -> Mapping[str, Any]:
        return self._extra_dict

    @cached_property
    def _extra_dict(self) -> dict[str, Any]:
        return dict(self._connection().extra_dejson)

    @cached_property
    def _airflow_connection(self) -> Connection:
        return self._given_connection or self.get_connection(self.redis_conn_id)

    @cached_property
    def settings(self) -> RedisQueueSettings:
        """The resolved connection settings, queue names and limits."""
        conn = self._connection()
        extra = self._extra()
        errors: list[tuple[str, str]] = []
        if extra.get("cluster") in (True, "true", "True"):
            errors.append(("extra.cluster", "Redis Cluster is not supported by the queue hook; use one endpoint"))
        db = extra.get("db", 0)
        if isinstance(db, str) and db.isdigit():
            db = int(db)
        if isinstance(db, bool) or not isinstance(db, int) or db < 0:
            errors.append(("extra.db", "must be a non-negative integer"))
        port = conn.port or 6379
        if not 0 < port < 65536:
            errors.append(("port", "must be between 1 and 65535"))
        hci = extra.get("health_check_interval", DEFAULT_HEALTH_CHECK_INTERVAL)
        if isinstance(hci, str) and hci.isdigit():
            hci = int(hci)
        if isinstance(hci, bool) or not isinstance(hci, int) or hci < 0:
            errors.append(("extra.health_check_interval", "must be a non-negative integer of seconds"))
        for key in ("queue", "processing_queue", "dead_letter_queue"):
            if extra.get(key) is not None and (not isinstance(extra[key], str) or not extra[key]):
                errors.append((f"extra.{key}", "must be a non-empty string"))
        if errors:
            raise InvalidQueueConfiguration(errors)
        ssl_flag = extra.get("ssl", False)
        # Same password convention as the official hook: "none"/"false"/"" mean no password.
        password = None if str(conn.password).lower() in ("none", "false", "") else conn.password
        return RedisQueueSettings(
            host=conn.host or "127.0.0.1",
            port=port,
            db=db,
            username=conn.login or None,
            password=password,
            ssl=(conn.conn_type or "").lower() == "rediss" or ssl_flag is True or str(ssl_flag).lower() == "true",
            ssl_args=tuple((k, extra[k]) for k in SSL_EXTRA_KEYS if k in extra),
            max_connections=extra_int(extra, "max_connections", DEFAULT_MAX_CONNECTIONS),
            socket_timeout=extra_float(extra, "socket_timeout", DEFAULT_SOCKET_TIMEOUT) or DEFAULT_SOCKET_TIMEOUT,
            socket_connect_timeout=extra_float(extra, "socket_connect_timeout", DEFAULT_CONNECT_TIMEOUT)
            or DEFAULT_CONNECT_TIMEOUT,
            health_check_interval=hci,
            queue=self._queue_arg or extra.get("queue") or DEFAULT_QUEUE,
            processing_queue=self._processing_arg or extra.get("processing_queue") or DEFAULT_PROCESSING_QUEUE,
            dead_letter_queue=self._dead_letter_arg or extra.get("dead_letter_queue") or DEFAULT_DEAD_LETTER_QUEUE,
        )

    @property
    def queue_name(self) -> str:
        return self.settings.queue

    @cached_property
    def client(self) -> Redis:
        """A redis-py client on the connection's shared pool (no I/O until the first command)."""
        from redis import Redis

        return Redis(connection_pool=shared_pool(self.redis_conn_id, self.settings))

    def get_conn(self) -> Redis:
        """The pooled client, in place of the official hook's unpooled one."""
        return self.client

    @cached_property
    def _script(self) -> Script:
        # register_script only hashes the source; the server loads it on first use (EVALSHA, then SCRIPT LOAD once
        # on NOSCRIPT, e.g. after a restart).
        return self.client.register_script(DEDUP_PUSH_LUA)

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

    def _with_retry(self, fn: Callable[[], T], count: int) -> tuple[T, int]:
        """Run ``fn`` under the retry policy; returns its result and the attempts it took."""
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return fn()

        try:
            result = self.retry_policy.call(
                attempt, retry_on=_RETRYABLE, retry_if=_is_retryable, on_retry=self._record_retry
            )
        except Exception as exc:
            raise self._publish_failed(exc, count, attempts) from exc
        return result, attempts

    def _run_script(self, marker: str, queue: str, body: str, published_at: str, ttl: int) -> int:
        """EVALSHA of the dedup-and-push script; loads it once when the server does not know it (e.g. restarted)."""
        from redis.exceptions import NoScriptError

        script = self._script
        keys_and_args = (3, marker, queue, self.last_announcement_key, body, published_at, ttl)
        try:
            depth: int = self.client.execute_command("EVALSHA", script.sha, *keys_and_args)
        except NoScriptError:
            script.sha = self.client.script_load(DEDUP_PUSH_LUA)
            depth = self.client.execute_command("EVALSHA", script.sha, *keys_and_args)
        return depth

    def _publish_body(self, message: ModelReadyToDeployMessage, body: str) -> PublishReceipt:
        start = time.perf_counter()
        message_id = self._message_id(message)
        published_at = utc_timestamp()
        marker = self.dedup_key(message_id)
        queue, ttl = self.queue_name, self.dedup_ttl_seconds
        depth, attempts = self._with_retry(lambda: self._run_script(marker, queue, body, published_at, ttl), 1)
        duplicate = depth == 0
        if duplicate:
            # Only duplicates pay this extra round trip: their receipt tells when the message was first enqueued.
            first, _ = self._with_retry(lambda: self.client.get(marker), 1)
            published_at = _text(first) if first is not None else published_at
        receipt = PublishReceipt(
            message_id=message_id,
            backend=self.backend,
            queue=self.queue_name,
            broker_message_id=None,
            duplicate=duplicate,
            attempts=attempts,
            duration_ms=elapsed_ms(start),
            published_at=published_at,
        )
        self._record((receipt,), receipt.duration_ms)
        self.log.debug("Published message %s to redis list %s (duplicate=%s)", message_id, self.queue_name, duplicate)
        return receipt

    def _publish_bodies(
        self, messages: Sequence[ModelReadyToDeployMessage], bodies: Sequence[str]
    ) -> list[PublishReceipt]:
        start = time.perf_counter()
        published_at = utc_timestamp()
        ttl = self.dedup_ttl_seconds
        markers = [self.dedup_key(self._message_id(m)) for m in messages]
        script, last = self._script, self.last_announcement_key

        def send() -> list[Any]:
            # One round trip for the whole batch (plus redis-py's SCRIPT EXISTS check); each message still goes
            # through the atomic script, so the dedup guarantee is the single publish's.
            pipe = self.client.pipeline(transaction=False)
            for marker, body in zip(markers, bodies, strict=True):
                script(keys=(marker, self.queue_name, last), args=(body, published_at, ttl), client=pipe)
            return pipe.execute(raise_on_error=True)

        depths, attempts = self._with_retry(send, len(bodies))
        first_times: dict[str, str] = {}
        duplicates = [marker for marker, depth in zip(markers, depths, strict=True) if depth == 0]
        if duplicates:
            found, _ = self._with_retry(lambda: self.client.mget(duplicates), len(bodies))
            first_times = {m: _text(v) for m, v in zip(duplicates, found, strict=True) if v is not None}
        duration = elapsed_ms(start)
        receipts = [
            PublishReceipt(
                message_id=self._message_id(message),
                backend=self.backend,
                queue=self.queue_name,
                broker_message_id=None,
                duplicate=depth == 0,
                attempts=attempts,
                duration_ms=duration,
                # A copy repeated within the batch reads as a duplicate of the first, enqueued just now.
                published_at=first_times.get(marker, published_at) if depth == 0 else published_at,
            )
            for message, marker, depth in zip(messages, markers, depths, strict=True)
        ]
        self._record(receipts, duration)
        self.log.info(
            "Published %s message(s) to redis list %s (%s duplicate)",
            len(receipts),
            self.queue_name,
            len(duplicates),
        )
        return receipts

    def _publish_failed(self, exc: Exception, count: int, attempts: int) -> Exception:
        from redis.exceptions import (
            AuthenticationError,
            AuthorizationError,
            NoPermissionError,
            ResponseError,
        )

        where = f"redis list {self.queue_name!r} at {self.settings.address}"
        if isinstance(exc, AuthenticationError | AuthorizationError | NoPermissionError):
            self._record_failure(count, permanent=True)
            return QueueAccessDeniedError(f"{where} refused the connection's credentials: {describe_error(exc)}")
        if _is_retryable(exc):
            self._record_failure(count, permanent=False)
            return QueuePublishError(
                f"could not publish to {where} after {attempts} attempt(s): {describe_error(exc)}; "
                "a retry is safe (messages are deduplicated by id)"
            )
        if isinstance(exc, ResponseError):
            self._record_failure(count, permanent=True)
            return QueuePermanentError(f"{where} refused the message: {describe_error(exc)}")
        self._record_failure(count, permanent=False)
        return QueuePublishError(f"could not publish to {where}: {describe_error(exc)}")

    # Status and connection test.

    def queue_status(self) -> QueueStatus:
        """
        Length of the queue, processing and dead-letter lists, and the last enqueue time, in one round trip.

        Never raises for an unreachable broker or a bad connection: ``reachable=False`` with the error.
        """
        try:
            settings = self.settings
        except Exception as exc:
            return QueueStatus(
                backend=self.backend, queue=self._queue_arg or "", reachable=False, error=describe_error(exc)
            )
        start = time.perf_counter()

        def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.llen(settings.queue)
            pipe.llen(settings.processing_queue)
            pipe.llen(settings.dead_letter_queue)
            pipe.get(self.last_announcement_key)
            return pipe.execute()

        try:
            depth, processing, dead, last = _STATUS_RETRY.call(read, retry_on=_connection_errors(), sleep=_no_sleep)
        except Exception as exc:
            return QueueStatus(
                backend=self.backend,
                queue=settings.queue,
                reachable=False,
                latency_ms=None,
                error=describe_error(exc),
            )
        return QueueStatus(
            backend=self.backend,
            queue=settings.queue,
            reachable=True,
            latency_ms=elapsed_ms(start),
            depth=int(depth),
            processing_depth=int(processing),
            dead_letter_depth=int(dead),
            last_announcement_at=_text(last) if last is not None else None,
        )

    def test_connection(self) -> tuple[bool, str]:
        """PING the server, then check the queue key is a list (or absent) and read its length."""
        try:
            settings = self.settings
            client = self.client
            client.ping()
            kind = _text(client.type(settings.queue))
            if kind not in ("list", "none"):
                return False, f"Redis key {settings.queue!r} holds a {kind}, not a list; the queue cannot use it"
            depth = client.llen(settings.queue)
        except Exception as exc:
            return False, f"Cannot use redis list {self.queue_name_or_arg()!r}: {describe_error(exc)}"
        return True, f"Connected to {settings.address}; list {settings.queue!r} holds {depth} message(s)"

    def queue_name_or_arg(self) -> str:
        try:
            return self.queue_name
        except Exception:
            return self._queue_arg or DEFAULT_QUEUE


def _retryable_errors() -> tuple[type[Exception], ...]:
    """Connection errors, timeouts, a loading or read-only (failing over) server, or one out of memory."""
    from redis import exceptions as rex

    return (rex.ConnectionError, rex.TimeoutError, ConnectionResetError, rex.ReadOnlyError, rex.OutOfMemoryError)


# The base of every redis-py error: the policy looks closer with _is_retryable.
_RETRYABLE: tuple[type[BaseException], ...] = (Exception,)


def _connection_errors() -> tuple[type[BaseException], ...]:
    from redis import exceptions as rex

    return (rex.ConnectionError, rex.TimeoutError, ConnectionResetError)


def _is_retryable(exc: BaseException) -> bool:
    from redis import exceptions as rex

    # Authentication and authorization errors are ConnectionErrors in redis-py, yet retrying cannot fix them.
    if isinstance(exc, rex.AuthenticationError | rex.AuthorizationError):
        return False
    return isinstance(exc, _retryable_errors())


def _no_sleep(_: float) -> None:
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

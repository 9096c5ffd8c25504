"""
Queue health endpoint: ``GET /hokusai/health`` in the Airflow API server.

:class:`HokusaiPlugin` mounts a small FastAPI app under ``/hokusai``. For every queue connection listed in
``[hokusai] health_queue_conn_ids`` it reports reachability, round-trip latency, depth, processing depth,
dead-letter depth and the last successful announcement time (``null`` when the queue backend does not record
it). The answer is HTTP 200 when every queue is healthy, 503 otherwise (also when one check hangs), and 500
without any queue detail when the ``[hokusai]`` section itself is invalid.

Bounded time: each queue is checked in its own daemon thread, all at once, and the request waits at most
``[hokusai] health_timeout_seconds`` for them; a broker that accepts the connection and never answers shows up
as ``"timed out after Ns"``. At most one check per connection runs at a time, so a hung broker cannot make
repeated probes pile up threads: a later probe waits on the check already running.

No secrets: the response holds connection ids, backend and queue names, numbers and error texts from which
URI credentials, ``key=value`` secrets and the connection's password and secret extras are removed.

This module is imported wherever Airflow loads plugins, task processes included, so it imports neither FastAPI
nor any broker client: the FastAPI app is built on the first request the API server routes to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk.plugins_manager import AirflowPlugin

from airflow_provider_hokusai.exceptions import InvalidHealthConfiguration

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import Receive, Scope, Send

CONFIG_SECTION = "hokusai"
URL_PREFIX = "/hokusai"
DEFAULT_TIMEOUT_SECONDS = 3.0
#: A probe that may wait longer than this is no longer a health check (load balancers give up far sooner).
MAX_TIMEOUT_SECONDS = 60.0
MAX_ERROR_CHARS = 300

StatusFn = Callable[[str], Mapping[str, Any]]

_CONN_ID = re.compile(r"^\S{1,250}$")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off", ""})
# scheme://user:password@host -> scheme://***@host
_URI_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
# password=..., X-Amz-Signature=..., aws_secret_access_key=... in query strings, reprs and messages.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?P<key>\b[\w-]*(?:password|passwd|pwd|secret|token|signature|credential|api_?key|private_?key)[\w-]*"
    r"['\"]?\s*[=:]\s*['\"]?)(?P<value>[^\s&,;'\")}]+)"
)
# Extras named like this hold secrets (the same words Airflow's secrets masker hides).
_SENSITIVE_EXTRA = re.compile(
    r"(?i)(password|passwd|passphrase|secret|token|api_?key|apikey|private_?key|authorization|credential|"
    r"keyfile_dict|service_account|session)"
)


@dataclass(frozen=True)
class HealthSettings:
    """
    The ``[hokusai]`` options the endpoint reads, validated.

    :param conn_ids: Queue connection ids to check, in the configured order, without duplicates.
    :param timeout_seconds: How long one request waits for the checks.
    :param require_auth: Whether callers must present an Airflow API token (Bearer header or UI cookie).
    """

    conn_ids: tuple[str, ...]
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    require_auth: bool = False

    @classmethod
    def parse(
        cls,
        conn_ids: str | None,
        timeout_seconds: str | float | None = None,
        require_auth: str | bool | None = None,
    ) -> HealthSettings:
        """
        Validate raw option values.

        :param conn_ids: Comma-separated connection ids; blanks around and between commas are ignored.
        :param timeout_seconds: A number of seconds, ``0 < t <= 60``; ``None`` means the default (3).
        :param require_auth: A boolean or one of true/false/yes/no/1/0/on/off; ``None`` means false.
        :raises InvalidHealthConfiguration: naming every bad option and the rule it breaks.
        """
        errors: list[tuple[str, str]] = []
        ids: list[str] = []
        for item in (conn_ids or "").split(","):
            conn_id = item.strip()
            if not conn_id:
                continue
            if not _CONN_ID.match(conn_id):
                errors.append(("health_queue_conn_ids", f"connection id {conn_id!r} must be 1-250 non-blank chars"))
            elif conn_id not in ids:
                ids.append(conn_id)

        timeout = DEFAULT_TIMEOUT_SECONDS
        if timeout_seconds is not None and str(timeout_seconds).strip() != "":
            try:
                timeout = float(timeout_seconds)
            except (TypeError, ValueError):
                timeout = math.nan
            if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT_SECONDS):
                errors.append(
                    ("health_timeout_seconds", f"must be a number of seconds > 0 and <= {MAX_TIMEOUT_SECONDS:g}")
                )

        auth = False
        if isinstance(require_auth, bool):
            auth = require_auth
        elif require_auth is not None:
            word = str(require_auth).strip().lower()
            if word in _TRUE:
                auth = True
            elif word not in _FALSE:
                errors.append(("health_require_auth", "must be a boolean (true/false)"))

        if errors:
            raise InvalidHealthConfiguration(errors)
        return cls(conn_ids=tuple(ids), timeout_seconds=timeout, require_auth=auth)

    @classmethod
    def from_config(cls) -> HealthSettings:
        """Read and validate the ``[hokusai]`` section (env ``AIRFLOW__HOKUSAI__<OPTION>`` included)."""
        from airflow.configuration import conf

        # Fallbacks keep the endpoint usable where provider configuration defaults were not loaded.
        return cls.parse(
            conf.get(CONFIG_SECTION, "health_queue_conn_ids", fallback=""),
            conf.get(CONFIG_SECTION, "health_timeout_seconds", fallback=str(DEFAULT_TIMEOUT_SECONDS)),
            conf.get(CONFIG_SECTION, "health_require_auth", fallback="False"),
        )


@dataclass(frozen=True)
class QueueHealth:
    """The health of one queue connection, as the endpoint reports it."""

    conn_id: str
    healthy: bool
    reachable: bool
    backend: str | None = None
    queue: str | None = None
    latency_ms: float | None = None
    depth: int | None = None
    processing_depth: int | None = None
    dead_letter_depth: int | None = None
    last_announcement_at: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HealthReport:
    """The whole answer of ``GET /hokusai/health``."""

    status: str
    checked_at: str
    timeout_seconds: float
    queues: tuple[QueueHealth, ...]

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"

    @property
    def http_status(self) -> int:
        return 200 if self.healthy else 503

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checked_at": self.checked_at,
            "timeout_seconds": self.timeout_seconds,
            "queues": [q.to_dict() for q in self.queues],
        }


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """
    ``text`` without credentials, cut to :data:`MAX_ERROR_CHARS`.

    :param text: An error message or a queue name that may embed a URI or a ``key=value`` secret.
    :param secrets: Literal values to remove wherever they appear (a connection's password, secret extras).
    """
    # Longest first, so a secret that contains another is not half-replaced.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URI_USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_ASSIGNMENT.sub(r"\g<key>***", text)
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return text


def connection_secrets(conn_id: str) -> list[str]:
    """The password and secret-looking extra values of ``conn_id``; empty when it cannot be read."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:
        return []
    secrets = [conn.password] if conn.password else []
    try:
        extra = conn.extra_dejson
    except Exception:
        extra = {}
    secrets += _secret_values(extra)
    # Error texts often carry the URI form, where a password like "p@ss" reads "p%40ss".
    return secrets + [encoded for s in secrets if (encoded := quote(s, safe="")) != s]


def _secret_values(extra: Any, sensitive: bool = False) -> list[str]:
    if isinstance(extra, Mapping):
        found: list[str] = []
        for key, value in extra.items():
            found += _secret_values(value, sensitive or bool(_SENSITIVE_EXTRA.search(str(key))))
        return found
    if isinstance(extra, list | tuple):
        return [s for item in extra for s in _secret_values(item, sensitive)]
    if sensitive and extra not in (None, "") and not isinstance(extra, bool):
        return [str(extra)]
    return []


def queue_status_for(conn_id: str) -> Mapping[str, Any]:
    """Ask the queue hook matching ``conn_id``'s type for its status (runs in a worker thread)."""
    from airflow_provider_hokusai.hooks.queue import get_queue_hook

    status = get_queue_hook(conn_id).queue_status()
    return dict(status.to_dict())


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, 3) if math.isfinite(number) else None


def _timestamp_or_none(value: Any) -> str | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, str) and value:
        try:
            return _timestamp_or_none(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def queue_health_from_status(conn_id: str, status: Mapping[str, Any], secrets: Iterable[str] = ()) -> QueueHealth:
    """
    Turn a ``QueueStatus.to_dict()`` into the public entry, keeping only whitelisted, scrubbed fields.

    Healthy means reachable and no error reported.
    """
    secrets = list(secrets)
    reachable = bool(status.get("reachable"))
    error = status.get("error")
    error_text = scrub(str(error), secrets) if error not in (None, "") else None
    queue = status.get("queue")
    backend = status.get("backend")
    return QueueHealth(
        conn_id=conn_id,
        healthy=reachable and error_text is None,
        reachable=reachable,
        backend=scrub(str(backend), secrets) if backend is not None else None,
        queue=scrub(str(queue), secrets) if queue is not None else None,
        latency_ms=_float_or_none(status.get("latency_ms")),
        depth=_int_or_none(status.get("depth")),
        processing_depth=_int_or_none(status.get("processing_depth")),
        dead_letter_depth=_int_or_none(status.get("dead_letter_depth")),
        last_announcement_at=_timestamp_or_none(status.get("last_announcement_at")),
        error=error_text,
    )


class HealthChecker:
    """
    Runs the queue checks concurrently, each bounded by the request's timeout.

    :param status_fn: ``conn_id -> QueueStatus.to_dict()``; blocking is fine, it runs in a thread.
    :param secrets_fn: ``conn_id -> secret strings`` to scrub from that connection's texts.
    """

    def __init__(
        self,
        status_fn: StatusFn = queue_status_for,
        secrets_fn: Callable[[str], Iterable[str]] = connection_secrets,
    ) -> None:
        self.status_fn = status_fn
        self.secrets_fn = secrets_fn
        self._lock = threading.Lock()
        self._inflight: dict[str, concurrent.futures.Future[QueueHealth]] = {}

    async def check(self, settings: HealthSettings) -> HealthReport:
        """Check every configured connection at once; returns within about ``settings.timeout_seconds``."""
        entries = await asyncio.gather(*(self._check_one(c, settings.timeout_seconds) for c in settings.conn_ids))
        return HealthReport(
            status="healthy" if all(e.healthy for e in entries) else "unhealthy",
            checked_at=datetime.now(UTC).isoformat(),
            timeout_seconds=settings.timeout_seconds,
            queues=tuple(entries),
        )

    def check_sync(self, conn_id: str) -> QueueHealth:
        """One check, in the calling thread; any failure becomes an unreachable entry."""
        try:
            status = self.status_fn(conn_id)
        except Exception as exc:
            return QueueHealth(
                conn_id=conn_id,
                healthy=False,
                reachable=False,
                error=scrub(f"{type(exc).__name__}: {exc}", self._secrets(conn_id)),
            )
        return queue_health_from_status(conn_id, status, self._secrets(conn_id))

    def _secrets(self, conn_id: str) -> list[str]:
        try:
            return list(self.secrets_fn(conn_id))
        except Exception:
            return []

    def _start(self, conn_id: str) -> tuple[concurrent.futures.Future[QueueHealth], bool]:
        with self._lock:
            running = self._inflight.get(conn_id)
            if running is not None and not running.done():
                return running, True
            future: concurrent.futures.Future[QueueHealth] = concurrent.futures.Future()
            # RUNNING from the start: a timed-out waiter's cancel() then cannot cancel it for other waiters.
            future.set_running_or_notify_cancel()
            self._inflight[conn_id] = future

        def run() -> None:
            try:
                future.set_result(self.check_sync(conn_id))
            except BaseException as exc:
                future.set_exception(exc)

        # A daemon thread rather than a pool: a check stuck in a hung socket must not block interpreter
        # shutdown (pool threads are joined at exit) nor occupy a worker that other requests need.
        threading.Thread(target=run, name=f"hokusai-health-{conn_id}", daemon=True).start()
        return future, False

    async def _check_one(self, conn_id: str, timeout: float) -> QueueHealth:
        future, already_running = self._start(conn_id)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            note = " (a check started by an earlier request is still running)" if already_running else ""
            return QueueHealth(
                conn_id=conn_id, healthy=False, reachable=False, error=f"timed out after {timeout:g}s{note}"
            )


class LazyHealthApp:
    """
    ASGI app that builds the FastAPI health app on its first request.

    Airflow imports plugin modules in every process that loads plugins (task runners too); deferring the FastAPI
    import to the API server's first call keeps that import cheap.

    :param factory: Builds the real app; defaults to :func:`airflow_provider_hokusai.plugins._health_app.create_app`.
    """

    def __init__(self, factory: Callable[[], FastAPI] | None = None) -> None:
        self._factory = factory
        self._app: FastAPI | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> FastAPI:
        """The FastAPI app, built once."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    if self._factory is None:
                        from airflow_provider_hokusai.plugins._health_app import create_app

                        self._app = create_app()
                    else:
                        self._app = self._factory()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


app = LazyHealthApp()


class HokusaiPlugin(AirflowPlugin):
    """Mounts the Hokusai queue health endpoint at ``/hokusai/health`` in the Airflow API server."""

    name = "hokusai"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Hokusai"}]

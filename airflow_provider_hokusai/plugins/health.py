"""
Queue health endpoint: ``GET /hokusai/health`` in the Airflow API server.

:class:`~airflow_provider_hokusai.plugins.plugin.HokusaiPlugin` mounts a small FastAPI app under ``/hokusai``.
For every queue connection listed in
``[hokusai] health_queue_conn_ids`` it reports the queue's
:class:`~airflow_provider_hokusai.hooks.queue.QueueStatus` (reachability, round-trip latency, depths, last
announcement time, a ``warning``) plus the connection id and a ``healthy`` flag. The answer is HTTP 200 when
every queue is reachable without error ("healthy", or "degraded" when one has a warning), 503 otherwise (also
when one check hangs), and 500 without any queue detail when the ``[hokusai]`` section itself is invalid.

Bounded time: each queue is checked in its own daemon thread, all at once, and the request waits at most
``[hokusai] health_timeout_seconds`` for them; a broker that accepts the connection and never answers shows up
as ``"timed out after Ns waiting for <host>"``. At most one check per connection runs at a time, so a hung broker
cannot make repeated probes pile up threads: a later probe waits on the check already running.

No secrets: before a check, the connection's password and the extras Airflow deems sensitive (and their
URL-quoted forms) are registered with Airflow's secrets masker, and every text of the answer goes through it.
URI userinfo and ``key=value`` secrets that Airflow was never told about (an ``endpoint_url`` with credentials,
AWS credentials from the environment) are removed by a small local step on top.

This module is imported wherever Airflow loads plugins, task processes included, so it imports neither FastAPI
nor any broker client nor the queue hooks: the FastAPI app is built on the first request the API server routes
to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from airflow_provider_hokusai.exceptions import InvalidConfigurationError
from airflow_provider_hokusai.plugins.lazy import LazyApp
from airflow_provider_hokusai.utils.validation import validate

if TYPE_CHECKING:
    from airflow_provider_hokusai.queue.receipts import QueueStatus

__all__ = [
    "CONFIG_SECTION",
    "FASTAPI_APP",
    "MAX_ERROR_CHARS",
    "URL_PREFIX",
    "HealthChecker",
    "HealthSettings",
    "app",
    "queue_entry",
    "redact_text",
    "summarize",
]

CONFIG_SECTION = "hokusai"
URL_PREFIX = "/hokusai"
_DEFAULT_TIMEOUT_SECONDS = 3.0
#: A probe that may wait longer than this is no longer a health check (load balancers give up far sooner).
_MAX_TIMEOUT_SECONDS = 60.0
MAX_ERROR_CHARS = 300

_StatusFn = Callable[[str], "QueueStatus"]
_TargetFn = Callable[[str], "str | None"]

_CONN_ID = re.compile(r"^\S{1,250}$")
# Pydantic's own messages name types and constraints; operators want the option's rule in their words.
_RULES = {
    "health_timeout_seconds": f"must be a number of seconds > 0 and <= {_MAX_TIMEOUT_SECONDS:g}",
    "health_require_auth": "must be a boolean (true/false, yes/no, on/off, 1/0)",
}


class HealthSettings(BaseModel):
    """
    The ``[hokusai]`` options the endpoint reads, validated; field names are the option names.

    :param health_queue_conn_ids: Queue connection ids to check, in the configured order, without duplicates; a
        comma-separated string is split, blanks around and between commas are ignored.
    :param health_timeout_seconds: How long one request waits for the checks, ``0 < t <= 60``.
    :param health_require_auth: Whether callers must present an Airflow API token (Bearer header or UI cookie).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    health_queue_conn_ids: tuple[str, ...] = ()
    health_timeout_seconds: float = Field(_DEFAULT_TIMEOUT_SECONDS, gt=0, le=_MAX_TIMEOUT_SECONDS, allow_inf_nan=False)
    health_require_auth: bool = False

    @model_validator(mode="before")
    @classmethod
    def _blank_means_default(cls, data: Any) -> Any:
        # Airflow's config yields "" for an option set to nothing; that is "not set", not a bad value.
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("health_queue_conn_ids", mode="before")
    @classmethod
    def _split_conn_ids(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        ids = [str(item).strip() for item in items if str(item).strip()]
        bad = [conn_id for conn_id in ids if not _CONN_ID.match(conn_id)]
        if bad:
            raise ValueError(f"connection ids {', '.join(map(repr, bad))} must be 1-250 non-blank chars")
        return tuple(dict.fromkeys(ids))

    @field_validator(*_RULES, mode="wrap")
    @classmethod
    def _state_the_rule(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(_RULES[str(info.field_name)]) from None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> HealthSettings:
        """
        Validate raw option values (strings as Airflow's config gives them, or typed values).

        :param options: ``{option name: value}``; missing, ``None`` or blank options take their defaults.
        :raises InvalidConfigurationError: naming every bad option and the rule it breaks.
        """
        return validate(cls, options, InvalidConfigurationError, subject="[hokusai] health configuration")

    @classmethod
    def from_config(cls) -> HealthSettings:
        """Read and validate the ``[hokusai]`` section (env ``AIRFLOW__HOKUSAI__<OPTION>`` included)."""
        from airflow.configuration import conf

        # fallback=None: where provider configuration defaults were not loaded, the model's defaults apply.
        return cls.from_options({name: conf.get(CONFIG_SECTION, name, fallback=None) for name in cls.model_fields})


def redact_text(text: str) -> str:
    """``text`` as it may leave the endpoint (see :func:`airflow_provider_hokusai.utils.redaction.redact_text`), cut to
    :data:`MAX_ERROR_CHARS`."""
    from airflow_provider_hokusai.utils.redaction import redact_text as redact

    return redact(text, MAX_ERROR_CHARS)


def queue_entry(conn_id: str, status: QueueStatus | None = None, error: str | None = None) -> dict[str, Any]:
    """
    One queue of the answer: ``conn_id``, ``healthy``, then ``status``'s fields with every text redacted.

    :param status: The queue's status; without one (the check failed or timed out) every field is null, and
        ``reachable`` false.
    :param error: Replaces the status's error.
    """
    from airflow_provider_hokusai.queue.receipts import QueueStatus

    fields = status.to_dict() if status is not None else dict.fromkeys(f.name for f in dataclasses.fields(QueueStatus))
    fields["reachable"] = bool(fields["reachable"])
    if error is not None:
        fields["error"] = error
    fields = {key: redact_text(value) if isinstance(value, str) else value for key, value in fields.items()}
    # An error with a reachable broker (a missing dead-letter queue) still needs someone to look.
    return {"conn_id": conn_id, "healthy": fields["reachable"] and fields["error"] is None, **fields}


def summarize(queues: list[dict[str, Any]]) -> tuple[str, list[str], int]:
    """
    The answer's ``status``, ``warnings`` and HTTP code from its queue entries.

    ``healthy`` (200): every queue reachable, without error or warning. ``degraded`` (200): every queue reachable
    and without error, but one has a warning, e.g. a Redis that loses acknowledged announcements on restart; a
    probe alerts on the status or on a non-empty ``warnings`` (each ``"<conn_id>: <warning>"``), while load
    balancers that look at the code only keep routing. ``unhealthy`` (503): a queue is unreachable, failing or
    timed out.
    """
    warnings = [f"{q['conn_id']}: {q['warning']}" for q in queues if q.get("warning")]
    if not all(q["healthy"] for q in queues):
        return "unhealthy", warnings, 503
    return ("degraded" if warnings else "healthy"), warnings, 200


class HealthChecker:
    """
    Runs the queue checks concurrently, each bounded by the request's timeout.

    :param status_fn: ``conn_id -> QueueStatus``; blocking is fine, it runs in a thread.
    :param prepare_fn: ``conn_id -> target description or None``, run in the same thread first: registers the
        connection's secrets with Airflow's masker and says where it points, for the timeout text; when it raises,
        the queue is reported unhealthy without being checked.
    """

    def __init__(self, status_fn: _StatusFn, prepare_fn: _TargetFn) -> None:
        self.status_fn = status_fn
        self.prepare_fn = prepare_fn
        self._lock = threading.Lock()
        self._inflight: dict[str, concurrent.futures.Future[dict[str, Any]]] = {}
        self._targets: dict[str, str] = {}

    async def check(self, settings: HealthSettings) -> list[dict[str, Any]]:
        """
        Check every configured connection at once; returns within about ``health_timeout_seconds``.

        :return: One :func:`queue_entry` per connection, in the configured order.
        """
        timeout = settings.health_timeout_seconds
        return list(await asyncio.gather(*(self._check_one(c, timeout) for c in settings.health_queue_conn_ids)))

    def check_sync(self, conn_id: str) -> dict[str, Any]:
        """One check, in the calling thread; any failure becomes an unreachable entry."""
        try:
            target = self.prepare_fn(conn_id)
        except Exception as exc:
            # Fail closed: with its secrets not registered, the check's texts could carry them.
            return queue_entry(conn_id, error=f"connection secrets could not be masked ({type(exc).__name__})")
        if target:
            self._targets[conn_id] = target
        try:
            status = self.status_fn(conn_id)
        except Exception as exc:
            return queue_entry(conn_id, error=f"{type(exc).__name__}: {exc}")
        return queue_entry(conn_id, status)

    def _start(self, conn_id: str) -> tuple[concurrent.futures.Future[dict[str, Any]], bool]:
        with self._lock:
            running = self._inflight.get(conn_id)
            if running is not None and not running.done():
                return running, True
            future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
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

    async def _check_one(self, conn_id: str, timeout: float) -> dict[str, Any]:
        future, already_running = self._start(conn_id)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            # The target is known once the thread has read the connection, which a hung secrets backend may stop.
            target = self._targets.get(conn_id)
            text = f"timed out after {timeout:g}s" + (f" waiting for {target}" if target else "")
            if already_running:
                text += " (a check started by an earlier request is still running)"
            return queue_entry(conn_id, error=text)


app = LazyApp("airflow_provider_hokusai.plugins._health_app:create_app")
FASTAPI_APP = {"app": app, "url_prefix": URL_PREFIX, "name": "Hokusai"}

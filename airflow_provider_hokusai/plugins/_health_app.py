"""
The FastAPI app behind ``/hokusai`` and what it wires into the checks: Airflow connections, their secrets and
the queue hooks. Imported on the API server's first request to it, never at plugin load.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook, Connection
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from airflow_provider_hokusai import __version__
from airflow_provider_hokusai.exceptions import InvalidConfigurationError
from airflow_provider_hokusai.hooks.queue import QueueStatus, get_queue_hook
from airflow_provider_hokusai.plugins.health import HealthChecker, HealthSettings, summarize
from airflow_provider_hokusai.plugins.log_redaction import install_log_redaction
from airflow_provider_hokusai.queue.settings import SQS_CONN_TYPES
from airflow_provider_hokusai.utils.redaction import mask_connection

__all__ = ["create_app", "describe_target", "prepare_connection"]

_bearer = HTTPBearer(auto_error=False, description="An Airflow API token, when [hokusai] health_require_auth is on.")


def _where(url: Any) -> str | None:
    """``host[:port]`` of a URL, never its userinfo; None when ``url`` is not one."""
    try:
        parts = urlsplit(str(url))
        return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    except ValueError:
        return None


def describe_target(conn: Connection) -> str:
    """Where ``conn`` points, for the timeout text: ``redis host:port`` or ``sqs queue <name> at <endpoint>``."""
    conn_type = (conn.conn_type or "").lower()
    if conn_type not in SQS_CONN_TYPES:
        # The Redis hook's defaults when host or port are not set.
        return f"{conn_type} {conn.host or '127.0.0.1'}:{conn.port or 6379}"
    extra = conn.extra_dejson
    queue = str(extra.get("queue") or "")
    endpoint = _where(extra.get("endpoint_url")) or (_where(queue) if "://" in queue else None)
    if endpoint is None and extra.get("region_name"):
        endpoint = f"sqs.{extra['region_name']}.amazonaws.com"
    name = queue.rstrip("/").rsplit("/", 1)[-1] or "(no queue)"
    return f"sqs queue {name}" + (f" at {endpoint}" if endpoint else "")


def prepare_connection(conn_id: str) -> str | None:
    """
    Mask ``conn_id``'s secrets and describe its target (a :class:`HealthChecker` ``prepare_fn``).

    :return: None when the connection cannot be read; the check itself then reports why.
    :raises Exception: when the secrets could not be registered; the checker then reports that instead of a check.
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:
        return None
    mask_connection(conn)
    try:
        return describe_target(conn)
    except Exception:
        return None


def queue_status_for(conn_id: str) -> QueueStatus:
    """Ask the queue hook matching ``conn_id``'s type for its status (a :class:`HealthChecker` ``status_fn``)."""
    return get_queue_hook(conn_id).queue_status()


async def settings_for(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> HealthSettings:
    """Dependency: this request's ``[hokusai]`` settings, after Airflow's auth check when it is required."""
    settings: HealthSettings = request.app.state.settings_loader()
    if settings.health_require_auth:
        # Airflow's own check: Bearer token or the UI's session cookie, validated by the auth manager.
        from airflow.api_fastapi.core_api.security import get_user

        await get_user(request, None, credentials)
    return settings


def create_app(
    checker: HealthChecker | None = None,
    settings_loader: Callable[[], HealthSettings] = HealthSettings.from_config,
) -> FastAPI:
    """
    Build the ``/hokusai`` app.

    :param checker: Runs the queue checks; the default reads Airflow connections and asks the queue hooks.
    :param settings_loader: Reads the ``[hokusai]`` options, once per request so config changes apply at once.
    """
    install_log_redaction()
    checker = checker or HealthChecker(queue_status_for, prepare_connection)
    app = FastAPI(
        title="Hokusai",
        version=__version__,
        description="Health of the queues the Hokusai provider announces models to.",
    )

    app.state.settings_loader = settings_loader

    @app.exception_handler(InvalidConfigurationError)
    async def misconfigured(request: Request, exc: InvalidConfigurationError) -> JSONResponse:
        return JSONResponse({"status": "misconfigured", "error": str(exc)}, status_code=500)

    @app.get(
        "/health",
        summary="Queue health",
        response_model=None,
        responses={
            200: {
                "description": "Every configured queue is reachable and reports no error: status healthy, or "
                "degraded when a queue has a warning (listed in warnings; e.g. a Redis without persistence)."
            },
            401: {"description": "Authentication required ([hokusai] health_require_auth)."},
            500: {"description": "The [hokusai] configuration is invalid; no queue was checked."},
            503: {"description": "At least one queue is unreachable, failing or timed out."},
        },
    )
    async def health(settings: Annotated[HealthSettings, Depends(settings_for)]) -> JSONResponse:
        queues = await checker.check(settings)
        status, warnings, code = summarize(queues)
        body = {
            "status": status,
            "checked_at": datetime.now(UTC).isoformat(),
            "timeout_seconds": settings.health_timeout_seconds,
            "warnings": warnings,
            "queues": queues,
        }
        return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    return app

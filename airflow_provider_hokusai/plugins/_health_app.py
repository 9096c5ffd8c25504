"""The FastAPI app behind ``/hokusai``; imported on the API server's first request to it, never at plugin load."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from airflow_provider_hokusai import __version__
from airflow_provider_hokusai.exceptions import InvalidHealthConfiguration
from airflow_provider_hokusai.plugins.health import HealthChecker, HealthReport, HealthSettings

_bearer = HTTPBearer(auto_error=False, description="An Airflow API token, when [hokusai] health_require_auth is on.")


async def settings_for(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> HealthSettings:
    """Dependency: this request's ``[hokusai]`` settings, after Airflow's auth check when it is required."""
    settings: HealthSettings = request.app.state.settings_loader()
    if settings.require_auth:
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

    :param checker: Runs the queue checks; the default asks the queue hooks.
    :param settings_loader: Reads the ``[hokusai]`` options, once per request so config changes apply at once.
    """
    checker = checker or HealthChecker()
    app = FastAPI(
        title="Hokusai",
        version=__version__,
        description="Health of the queues the Hokusai provider announces models to.",
    )

    app.state.settings_loader = settings_loader

    @app.exception_handler(InvalidHealthConfiguration)
    async def misconfigured(request: Request, exc: InvalidHealthConfiguration) -> JSONResponse:
        return JSONResponse({"status": "misconfigured", "error": str(exc)}, status_code=500)

    @app.get(
        "/health",
        summary="Queue health",
        response_model=None,
        responses={
            200: {"description": "Every configured queue is reachable and reports no error."},
            401: {"description": "Authentication required ([hokusai] health_require_auth)."},
            500: {"description": "The [hokusai] configuration is invalid; no queue was checked."},
            503: {"description": "At least one queue is unreachable, failing or timed out."},
        },
    )
    async def health(settings: Annotated[HealthSettings, Depends(settings_for)]) -> JSONResponse:
        report: HealthReport = await checker.check(settings)
        body: dict[str, Any] = report.to_dict()
        return JSONResponse(body, status_code=report.http_status, headers={"Cache-Control": "no-store"})

    return app

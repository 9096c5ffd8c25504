"""
The FastAPI app behind ``/hokusai/ui``: the page, its static files and its data endpoints. Imported on the API
server's first request to it, never at plugin load.

Routes (all but ``/static`` need an Airflow login and read access to the reconcile DAG):

* ``GET /`` — the page (an unauthenticated browser is sent to Airflow's login page, and back);
* ``GET /api/versions?model=&status=&page_size=&page_token=`` — one page of version rows
  (:func:`airflow_provider_hokusai.plugins.ui_rows.page_body`), 503 with a plain reason when MLflow cannot be read;
* ``GET /api/models`` — registered model names for the model filter;
* ``GET /api/actions`` — the DAGs behind "Reconcile now" and "Retry announcement": whether they exist, are paused,
  and whether this user may trigger them (the page disables what the user may not do).

Queue health is ``GET /hokusai/health``, read by the page as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from airflow_provider_hokusai import __version__
from airflow_provider_hokusai.exceptions import HokusaiError
from airflow_provider_hokusai.plugins.log_redaction import install_log_redaction
from airflow_provider_hokusai.plugins.ui import URL_PREFIX, UiSettings
from airflow_provider_hokusai.plugins.ui_reader import RegistryReader
from airflow_provider_hokusai.plugins.ui_rows import ORDER_BY, VersionQuery, only_model, page_body, search_filter
from airflow_provider_hokusai.utils.redaction import redact_text

__all__ = [
    "Allowed",
    "actions",
    "create_app",
    "models",
    "not_deployed",
    "page",
    "refused",
    "static",
    "static_file",
    "versions",
]

STATIC_PACKAGE = "airflow_provider_hokusai.plugins"
STATIC_DIR = "ui_static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
#: The page loads its own script and style only, and runs only inside Airflow's UI (same origin) or on its own.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'",
    "Referrer-Policy": "same-origin",
}

_bearer = HTTPBearer(auto_error=False, description="An Airflow API token; the UI's session cookie works too.")


class Authorizer(Protocol):
    """Who the caller is and what they may do; Airflow's auth manager in the API server."""

    async def user(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> Any:
        """The caller; raises ``HTTPException`` 401 (no or expired token) or 403 (invalid token)."""

    def may(self, user: Any, method: str, dag_id: str, *, run: bool = False) -> bool:
        """Whether ``user`` may ``method`` the DAG ``dag_id`` (its runs when ``run``)."""


class AirflowAuthorizer:
    """:class:`Authorizer` through Airflow's ``get_user`` and the configured auth manager's ``is_authorized_dag``."""

    async def user(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> Any:
        from airflow.api_fastapi.core_api.security import get_user

        return await get_user(request, None, credentials)

    def may(self, user: Any, method: str, dag_id: str, *, run: bool = False) -> bool:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
        from airflow.models.dag import DagModel

        return bool(
            get_auth_manager().is_authorized_dag(
                method=method,  # type: ignore[arg-type]
                access_entity=DagAccessEntity.RUN if run else None,
                details=DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id)),
                user=user,
            )
        )


def dag_state(dag_id: str) -> dict[str, Any]:
    """
    Whether the DAG ``dag_id`` is deployed (parsed, and its file still there: not stale) and paused, from the
    metadata database.
    """
    from airflow.models.dag import DagModel

    model = DagModel.get_dagmodel(dag_id)
    deployed = model is not None and not model.is_stale
    return {"dag_id": dag_id, "exists": deployed, "is_paused": bool(model.is_paused) if model and deployed else None}


def not_deployed(dag_id: str) -> str:
    """What the page says about an action whose DAG is not deployed: how to deploy it."""
    return f"DAG {dag_id} is not deployed: add the one-line DAG file, see docs/installation.md"


def login_url(next_path: str) -> str:
    """The auth manager's login page, coming back to ``next_path``."""
    from airflow.api_fastapi.app import get_auth_manager

    return str(get_auth_manager().get_url_login(next_url=next_path))


def default_reader(settings: UiSettings) -> RegistryReader:
    """A :class:`RegistryReader` on the ``[hokusai] ui_mlflow_conn_id`` connection (read at each request)."""
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

    return RegistryReader(MLflowHook(settings.mlflow_conn_id))


def static_file(name: str) -> bytes:
    """One file of ``ui_static`` (package data, shipped in the wheel)."""
    return resources.files(STATIC_PACKAGE).joinpath(STATIC_DIR, name).read_bytes()


def _problem(status: int, kind: str, error: str) -> JSONResponse:
    return JSONResponse({"kind": kind, "error": redact_text(error, 500)}, status_code=status, headers=SECURITY_HEADERS)


@dataclass(frozen=True)
class UiDeps:
    """What the routes use, set once per app (``app.state.hokusai``); see :func:`create_app`."""

    authorizer: Authorizer
    settings_loader: Callable[[], UiSettings]
    reader_factory: Callable[[UiSettings], RegistryReader]
    dag_state_fn: Callable[[str], dict[str, Any]]
    login_url_fn: Callable[[str], str]


def _deps(request: Request) -> UiDeps:
    deps: UiDeps = request.app.state.hokusai
    return deps


async def reader_settings(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> tuple[Any, UiSettings]:
    """Dependency: the authenticated user allowed to read the page, and the settings."""
    deps = _deps(request)
    settings = deps.settings_loader()
    user = await deps.authorizer.user(request, credentials)
    if not deps.authorizer.may(user, "GET", settings.reconcile_dag_id):
        raise HTTPException(403, f"reading the Hokusai page needs read access to DAG {settings.reconcile_dag_id}")
    return user, settings


Allowed = Annotated[tuple[Any, UiSettings], Depends(reader_settings)]
router = APIRouter()


@router.get("/", response_class=HTMLResponse, summary="The Hokusai page")
async def page(allowed: Allowed) -> HTMLResponse:
    return HTMLResponse(static_file("index.html"), headers=SECURITY_HEADERS)


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or suffix not in STATIC_TYPES:
        return Response(status_code=404)
    try:
        body = static_file(name)
    except (FileNotFoundError, IsADirectoryError):
        return Response(status_code=404)
    return Response(body, media_type=STATIC_TYPES[suffix], headers={"Cache-Control": "no-cache"})


@router.get("/api/versions", summary="One page of model versions")
def versions(
    request: Request,
    allowed: Allowed,
    model: str | None = None,
    status: str = "all",
    page_size: str = "50",
    page_token: str | None = None,
) -> Response:
    # Every parameter arrives as text and is read by VersionQuery, so a bad one is this app's typed 400, not
    # FastAPI's 422 echoing the input.
    try:
        query = VersionQuery(model=model, status=status, page_size=page_size, page_token=page_token)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _problem(400, "bad_query", reasons)
    try:
        reader = _deps(request).reader_factory(allowed[1])
        found = only_model(
            query, reader.search_versions(search_filter(query), query.page_size, query.page_token, ORDER_BY)
        )
        body = page_body(query, found, reader.hook.model_version_url)
    except HokusaiError as exc:
        return _problem(503, "mlflow_unavailable", f"MLflow could not be read: {exc}")
    return JSONResponse(body, headers=SECURITY_HEADERS)


@router.get("/api/models", summary="Registered model names")
def models(request: Request, allowed: Allowed) -> Response:
    try:
        names = _deps(request).reader_factory(allowed[1]).model_names()
    except HokusaiError as exc:
        return _problem(503, "mlflow_unavailable", f"MLflow could not be read: {exc}")
    return JSONResponse({"models": names}, headers=SECURITY_HEADERS)


@router.get("/api/actions", summary="What this user may trigger")
def actions(request: Request, allowed: Allowed) -> Response:
    deps, (user, settings) = _deps(request), allowed
    body = {}
    for name, dag_id in (("reconcile", settings.reconcile_dag_id), ("retry", settings.retry_dag_id)):
        state = deps.dag_state_fn(dag_id)
        can_trigger = deps.authorizer.may(user, "POST", dag_id, run=True)
        body[name] = {**state, "can_trigger": can_trigger, "note": None if state["exists"] else not_deployed(dag_id)}
    return JSONResponse(body, headers=SECURITY_HEADERS)


async def refused(request: Request, exc: Exception) -> Response:
    """401/403 as JSON; a browser opening the page without a session goes to Airflow's login page, and comes back."""
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    if request.scope.get("endpoint") is page and code == 401:
        return RedirectResponse(_deps(request).login_url_fn(f"{URL_PREFIX}/"), status_code=303)
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return _problem(code, "refused", str(detail))


def create_app(
    authorizer: Authorizer | None = None,
    settings_loader: Callable[[], UiSettings] = UiSettings.from_config,
    reader_factory: Callable[[UiSettings], RegistryReader] = default_reader,
    dag_state_fn: Callable[[str], dict[str, Any]] = dag_state,
    login_url_fn: Callable[[str], str] = login_url,
) -> FastAPI:
    """
    Build the ``/hokusai/ui`` app.

    :param authorizer: Airflow's auth manager by default.
    :param settings_loader: Reads the ``[hokusai] ui_*`` options, once per request.
    :param reader_factory: The registry reader for a request's settings.
    :param dag_state_fn: ``dag_id -> {dag_id, exists, is_paused}``.
    :param login_url_fn: ``next path -> login URL`` for an unauthenticated browser.
    """
    install_log_redaction()
    app = FastAPI(title="Hokusai UI", version=__version__, description="Model versions and their announcements.")
    app.state.hokusai = UiDeps(
        authorizer or AirflowAuthorizer(), settings_loader, reader_factory, dag_state_fn, login_url_fn
    )
    app.add_exception_handler(HTTPException, refused)
    app.include_router(router)
    return app

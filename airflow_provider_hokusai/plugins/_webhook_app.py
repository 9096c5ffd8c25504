"""
The FastAPI app behind ``/hokusai/webhooks``: reads the body (bounded), verifies the delivery
(:func:`airflow_provider_hokusai.registry.events.verify_delivery`), refuses a replayed delivery id and records the
event as an Airflow asset event. Imported on the API server's first request to it, never at plugin load.

Replay state lives in the metadata database, in the asset events themselves: each records its ``delivery_id``, and
a new delivery is checked against the asset's events of the last two windows while the asset's row is locked
(``SELECT ... FOR UPDATE``), so every API server worker and replica sees the same record and two workers receiving
the same delivery at once record it once (on PostgreSQL and MySQL; SQLite, a single-writer development database,
serializes the writes but not the check).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_hokusai import __version__
from airflow_provider_hokusai.exceptions import (
    InvalidConfigurationError,
    WebhookRejected,
)
from airflow_provider_hokusai.plugins.log_redaction import install_log_redaction
from airflow_provider_hokusai.plugins.webhooks import ROUTE
from airflow_provider_hokusai.registry.events import (
    DEFAULT_CONN_ID,
    DELIVERY_ID_HEADER,
    MAX_BODY_BYTES,
    MODEL_VERSION_ASSET,
    TOLERANCE_SECONDS,
    RegistryEvent,
    load_webhook_secrets,
    verify_delivery,
)

__all__ = ["ReceiverUnavailable", "Recorder", "create_app"]

log = logging.getLogger(__name__)

Recorder = Callable[[RegistryEvent], int]


class ReceiverUnavailable(Exception):
    """The receiver cannot take deliveries now (no usable secret, the asset is unknown); answered 503."""


def record_event(event: RegistryEvent, asset_name: str = MODEL_VERSION_ASSET) -> int:
    """
    Record ``event`` as an asset event on ``asset_name``, once per delivery id; returns the asset event's id.

    The asset's row is locked for the transaction, so concurrent receivers check and record one at a time.

    :raises WebhookRejected: an event with this delivery id was recorded within the last two windows.
    :raises ReceiverUnavailable: no DAG declaring the asset has been parsed yet, so it is not in the database.
    """
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == asset_name).with_for_update())
        if asset is None:
            raise ReceiverUnavailable(f"asset {asset_name} is unknown: no DAG scheduled on it has been parsed")
        # A replay carries its original signed timestamp, so it is only accepted within TOLERANCE_SECONDS of it;
        # twice that covers the clocks' skew.
        since = datetime.now(UTC) - timedelta(seconds=2 * TOLERANCE_SECONDS)
        recent = session.scalars(
            select(AssetEvent.extra).where(AssetEvent.asset_id == asset.id, AssetEvent.timestamp >= since)
        )
        if any(isinstance(extra, dict) and extra.get("delivery_id") == event.delivery_id for extra in recent):
            raise WebhookRejected(f"delivery {event.delivery_id} was already recorded", http_status=409)
        recorded = asset_manager.register_asset_change(
            asset=asset, extra=event.asset_extra(), source_is_api=True, api_user_teams=set(), session=session
        )
        if recorded is None:
            raise ReceiverUnavailable(f"asset {asset_name} is unknown")
        session.flush()
        return int(recorded.id)


async def read_body(request: Request, limit: int) -> bytes:
    """
    The request body, refused once it exceeds ``limit`` bytes (by its ``Content-Length`` or while streaming).

    :raises WebhookRejected: the body is larger than ``limit``.
    """
    too_large = WebhookRejected(f"body must be at most {limit} bytes", http_status=413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _secrets(conn_id: str) -> list[str]:
    try:
        return load_webhook_secrets(conn_id)
    except InvalidConfigurationError as exc:
        log.error("MLflow webhook receiver has no usable secret: %s", exc)
        raise ReceiverUnavailable("the receiver has no usable secret; see the API server log") from None


def create_app(
    secrets_loader: Callable[[], Sequence[str]] | None = None,
    recorder: Recorder = record_event,
    clock: Callable[[], float] = time.time,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """
    Build the ``/hokusai/webhooks`` app.

    :param secrets_loader: The accepted secrets; the default reads connection ``hokusai_mlflow_webhook`` on every
        delivery, so a rotation applies at once.
    :param recorder: Records a verified event (replay check included); returns its asset event id.
    :param clock: Unix time, for the timestamp window.
    :param max_body_bytes: Larger bodies are answered 413.
    """
    install_log_redaction()
    load = secrets_loader or (lambda: _secrets(DEFAULT_CONN_ID))
    app = FastAPI(
        title="Hokusai MLflow webhooks",
        version=__version__,
        description="Verified MLflow model-registry events, recorded as Airflow asset events.",
    )

    @app.exception_handler(WebhookRejected)
    async def rejected(request: Request, exc: WebhookRejected) -> JSONResponse:
        delivery = request.headers.get(DELIVERY_ID_HEADER, "")[:128]
        log.warning("MLflow webhook delivery %r refused (%s): %s", delivery, exc.http_status, exc)
        return JSONResponse({"status": "rejected", "error": str(exc)}, status_code=exc.http_status)

    @app.exception_handler(ReceiverUnavailable)
    async def unavailable(request: Request, exc: ReceiverUnavailable) -> JSONResponse:
        log.warning("MLflow webhook delivery not taken: %s", exc)
        return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)

    @app.post(
        ROUTE,
        summary="Receive an MLflow model-registry webhook",
        response_model=None,
        responses={
            200: {"description": "Verified and recorded as an asset event."},
            202: {"description": "Verified; the event is not one the receiver handles."},
            400: {"description": "The signed body is not MLflow's JSON payload."},
            401: {"description": "Missing or bad signature, or a timestamp outside the 5-minute window."},
            409: {"description": "This delivery id was already recorded."},
            413: {"description": "The body is too large."},
            503: {"description": "No usable secret, or no DAG scheduled on the asset yet; MLflow retries."},
        },
    )
    async def mlflow_webhook(request: Request) -> JSONResponse:
        body = await read_body(request, max_body_bytes)
        secrets = await run_in_threadpool(load)
        event = verify_delivery(request.headers, body, secrets, clock())
        summary = {"delivery_id": event.delivery_id, "event": event.event}
        reason = event.ignored_because()
        if reason:
            log.info("MLflow webhook delivery %s ignored: %s", event.delivery_id, reason)
            return JSONResponse({"status": "ignored", "reason": reason, **summary}, status_code=202)
        asset_event_id = await run_in_threadpool(recorder, event)
        log.info(
            "MLflow webhook delivery %s: %s %s v%s recorded as asset event %s",
            event.delivery_id,
            event.event,
            event.model_name,
            event.version,
            asset_event_id,
        )
        return JSONResponse({"status": "recorded", "asset_event_id": asset_event_id, **summary}, status_code=200)

    return app

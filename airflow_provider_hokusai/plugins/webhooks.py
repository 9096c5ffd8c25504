"""
MLflow registry webhook receiver: ``POST /hokusai/webhooks/mlflow`` in the Airflow API server.

MLflow cannot log in to Airflow, so the route needs no Airflow login: the delivery's HMAC-SHA256 signature
(``X-MLflow-Signature``) is its authentication, checked against the secrets of the Airflow connection
``hokusai_mlflow_webhook`` (:func:`airflow_provider_hokusai.webhooks.load_webhook_secrets`). A verified
``model_version.created`` event, or a ``model_version_tag.set`` of a candidate tag, becomes an Airflow asset event
on ``hokusai_model_version_registered`` with ``{model_name, version, event, delivery_id, signed_at}`` as extra;
Airflow then owns scheduling, retries and the record of what arrived (see ``dags/hokusai_registry_events.py``).

Answers: 200 recorded; 202 verified but not handled; 400 malformed body; 401 missing/bad signature or stale
timestamp; 409 replayed delivery id; 413 body too large; 503 no usable secret, or no DAG scheduled on the asset yet
(MLflow retries 5xx answers). The receiver holds neither MLflow nor queue credentials: it only records events.

Like :mod:`airflow_provider_hokusai.plugins.health`, this module is imported wherever plugins load, so the FastAPI
app (:mod:`airflow_provider_hokusai.plugins._webhook_app`) is built on the first request routed to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import Receive, Scope, Send

URL_PREFIX = "/hokusai/webhooks"
ROUTE = "/mlflow"


class LazyWebhookApp:
    """
    ASGI app that builds the receiver's FastAPI app on its first request.

    :param factory: Builds the real app; defaults to :func:`airflow_provider_hokusai.plugins._webhook_app.create_app`.
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
                        from airflow_provider_hokusai.plugins._webhook_app import create_app

                        self._app = create_app()
                    else:
                        self._app = self._factory()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


app = LazyWebhookApp()

#: The ``HokusaiPlugin.fastapi_apps`` entry; listed before ``/hokusai``, which would otherwise take its paths.
FASTAPI_APP: dict[str, Any] = {"app": app, "url_prefix": URL_PREFIX, "name": "Hokusai MLflow webhooks"}

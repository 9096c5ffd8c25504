"""
MLflow registry webhook receiver: ``POST /hokusai/webhooks/mlflow`` in the Airflow API server.

MLflow cannot log in to Airflow, so the route needs no Airflow login: the delivery's HMAC-SHA256 signature
(``X-MLflow-Signature``) is its authentication, checked against the secrets of the Airflow connection
``hokusai_mlflow_webhook`` (:func:`airflow_provider_hokusai.registry.events.load_webhook_secrets`). A verified
``model_version.created`` event, or a ``model_version_tag.set`` of a candidate tag, becomes an Airflow asset event
on ``hokusai_model_version_registered`` with ``{model_name, version, event, delivery_id, signed_at}`` as extra;
Airflow then owns scheduling, retries and the record of what arrived (the DAG ``hokusai_registry_events``).

Answers: 200 recorded; 202 verified but not handled; 400 malformed body; 401 missing/bad signature or stale
timestamp; 409 replayed delivery id; 413 body too large; 503 no usable secret, or no DAG scheduled on the asset yet
(MLflow retries 5xx answers). The receiver holds neither MLflow nor queue credentials: it only records events.

Like :mod:`airflow_provider_hokusai.plugins.health`, this module is imported wherever plugins load, so the FastAPI
app (:mod:`airflow_provider_hokusai.plugins._webhook_app`) is built on the first request routed to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.plugins.lazy import LazyApp

if TYPE_CHECKING:
    pass

__all__ = ["FASTAPI_APP", "ROUTE", "URL_PREFIX", "app"]

URL_PREFIX = "/hokusai/webhooks"
ROUTE = "/mlflow"


app = LazyApp("airflow_provider_hokusai.plugins._webhook_app:create_app")

#: The ``HokusaiPlugin.fastapi_apps`` entry; listed before ``/hokusai``, which would otherwise take its paths.
FASTAPI_APP: dict[str, Any] = {"app": app, "url_prefix": URL_PREFIX, "name": "Hokusai MLflow webhooks"}

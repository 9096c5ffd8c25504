"""
The Hokusai plugin: what the provider mounts in the Airflow API server, and the page it adds to the UI's navigation.

Imported wherever Airflow loads plugins (task processes too), so it imports no FastAPI app: each mount is a
:class:`~airflow_provider_hokusai.plugins.lazy.LazyApp` built on its first request.
"""

from __future__ import annotations

from airflow_provider_hokusai.plugins import health, ui, webhooks
from airflow_provider_hokusai.utils.compat import AirflowPlugin

__all__ = ["HokusaiPlugin"]


class HokusaiPlugin(AirflowPlugin):
    """
    Mounts the Hokusai queue health endpoint at ``/hokusai/health``, the MLflow webhook receiver at
    ``/hokusai/webhooks/mlflow`` (:mod:`airflow_provider_hokusai.plugins.webhooks`) and the Hokusai page at
    ``/hokusai/ui/`` (:mod:`airflow_provider_hokusai.plugins.ui`, "Hokusai" in the UI's navigation) in the Airflow
    API server.
    """

    name = "hokusai"
    # Mounts match in order: the longer prefixes go first, or /hokusai would take their paths.
    fastapi_apps = [webhooks.FASTAPI_APP, ui.FASTAPI_APP, health.FASTAPI_APP]
    external_views = [ui.EXTERNAL_VIEW]

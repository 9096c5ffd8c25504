"""
The Hokusai page in the Airflow UI: ``GET /hokusai/ui/`` in the Airflow API server, shown in Airflow's navigation.

:class:`~airflow_provider_hokusai.plugins.plugin.HokusaiPlugin` mounts the page's FastAPI app
(:mod:`airflow_provider_hokusai.plugins._ui_app`) at ``/hokusai/ui`` and lists :data:`EXTERNAL_VIEW`, which Airflow
3's UI shows as a "Hokusai" navigation entry that opens the page (``/plugin/hokusai`` inside the UI's frame). The page
is plain HTML and a small script (``ui_static/``), no build step.

What it shows, per registered model version: token symbol, metric, baseline → current, improvement, validation
status, announcement status and its receipt (message id, backend, queue, broker id, time) or failure reason, links to
MLflow and to the Airflow task that registered it; the queues' health (``GET /hokusai/health``, the same answer);
actions "Reconcile now" (a run of ``[hokusai] ui_reconcile_dag_id``) and "Retry announcement" for one version (a
run of ``[hokusai] ui_retry_dag_id`` with ``{model_name, model_version}``). The browser triggers both runs itself
through Airflow's REST API (``POST /api/v2/dags/{dag_id}/dagRuns``), so Airflow checks the user's own permissions;
the page disables a button the user may not press.

Authentication and authorization are Airflow's: every route needs the UI's session (cookie) or a Bearer token,
checked by the auth manager; reading needs read access to the reconcile DAG. This module is imported wherever
plugins load, so the FastAPI app is built on the first request routed to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.plugins.lazy import LazyApp

if TYPE_CHECKING:
    pass

__all__ = ["CONFIG_SECTION", "EXTERNAL_VIEW", "FASTAPI_APP", "URL_PREFIX", "UiSettings", "app"]

CONFIG_SECTION = "hokusai"
URL_PREFIX = "/hokusai/ui"
_DEFAULTS = {
    "ui_mlflow_conn_id": "mlflow_default",
    "ui_reconcile_dag_id": "hokusai_reconcile_announcements",
    "ui_retry_dag_id": "hokusai_announce_only",
}


@dataclass(frozen=True)
class UiSettings:
    """
    The ``[hokusai] ui_*`` options.

    :param mlflow_conn_id: The ``mlflow`` connection whose registry the page reads.
    :param reconcile_dag_id: The DAG "Reconcile now" triggers (reading the page needs read access to it).
    :param retry_dag_id: The DAG "Retry announcement" triggers with ``{model_name, model_version}``.
    """

    mlflow_conn_id: str = _DEFAULTS["ui_mlflow_conn_id"]
    reconcile_dag_id: str = _DEFAULTS["ui_reconcile_dag_id"]
    retry_dag_id: str = _DEFAULTS["ui_retry_dag_id"]

    @classmethod
    def from_config(cls) -> UiSettings:
        """Read the options (env ``AIRFLOW__HOKUSAI__UI_*`` included); blank or missing ones take their defaults."""
        from airflow.configuration import conf

        raw = {
            name: conf.get(CONFIG_SECTION, name, fallback=None)
            for name in ("ui_mlflow_conn_id", "ui_reconcile_dag_id", "ui_retry_dag_id")
        }
        values = {
            name: str(value).strip() if value and str(value).strip() else _DEFAULTS[name] for name, value in raw.items()
        }
        return cls(
            mlflow_conn_id=values["ui_mlflow_conn_id"],
            reconcile_dag_id=values["ui_reconcile_dag_id"],
            retry_dag_id=values["ui_retry_dag_id"],
        )


app = LazyApp("airflow_provider_hokusai.plugins._ui_app:create_app")

#: The ``HokusaiPlugin.fastapi_apps`` entry; listed before ``/hokusai``, which would otherwise take its paths.
FASTAPI_APP: dict[str, Any] = {"app": app, "url_prefix": URL_PREFIX, "name": "Hokusai UI"}

#: The ``HokusaiPlugin.external_views`` entry: "Hokusai" in the UI's navigation, the page in its frame.
EXTERNAL_VIEW: dict[str, Any] = {
    "name": "Hokusai",
    "href": f"{URL_PREFIX}/",
    "destination": "nav",
    "url_route": "hokusai",
    "icon": f"{URL_PREFIX}/static/hokusai.svg",
}

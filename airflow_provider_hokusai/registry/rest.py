"""
MLflow's REST API over ``requests``, with no MLflow import: the client of a gate's and an announcement's calls, and
the bounded one-off call of a page or a connection test.

Importing MLflow's client costs seconds before a task's first request (3.7-4.7 s measured on a loaded 2-core
machine); reading a version and writing its tags need none of it. The one retry layer is urllib3's ``Retry`` in the
session, with MLflow's own settings (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``_BACKOFF_FACTOR``, ``_BACKOFF_JITTER``,
``_TIMEOUT``) and status codes, so a call retries as MLflow's client would. A non-2xx answer raises
``requests.HTTPError`` carrying the response, whose ``error_code`` :mod:`airflow_provider_hokusai.registry.errors`
reads. The hooks (:mod:`airflow_provider_hokusai.hooks.mlflow_stores`) build on this client, as the queue hooks build
on :mod:`airflow_provider_hokusai.queue.redis_client`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.registry.connection import HttpAuth, MLflowSettings
from airflow_provider_hokusai.registry.entities import Page, RegistryVersion, TrackedExperiment, TrackedRun
from airflow_provider_hokusai.registry.errors import is_not_found

if TYPE_CHECKING:
    import requests
    from urllib3.util.retry import Retry

__all__ = ["RETRY_STATUS_CODES", "MLflowRestClient", "mlflow_retry", "rest_call"]

#: The answers MLflow's client retries (``mlflow.utils.request_utils``).
RETRY_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})
_API = "/api/2.0/mlflow"


def _setting(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(f"MLFLOW_HTTP_REQUEST_{name}")
    return float(value) if value else default


def mlflow_retry(max_retries: int | None = None, environ: Mapping[str, str] = os.environ) -> Retry:
    """
    The retries MLflow's client makes (7, backoff factor 2, jitter 1 s by default: about four minutes), each
    setting read from the same variable; ``max_retries`` overrides the count (0 for a call a person waits on).
    """
    from urllib3.util.retry import Retry

    count = int(_setting(environ, "MAX_RETRIES", 7)) if max_retries is None else max_retries
    return Retry(
        total=count,
        connect=count,
        read=count,
        redirect=count,
        status=count,
        status_forcelist=RETRY_STATUS_CODES,
        backoff_factor=_setting(environ, "BACKOFF_FACTOR", 2),
        backoff_jitter=_setting(environ, "BACKOFF_JITTER", 1.0),
        allowed_methods=None,  # every method: the calls made here are idempotent
        raise_on_status=False,
    )


def _error_text(response: requests.Response) -> str:
    """``MLflow answered HTTP 404 RESOURCE_DOES_NOT_EXIST: <MLflow's message>`` (no URL: it may hold a secret)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"MLflow answered HTTP {response.status_code}"
    return f"MLflow answered HTTP {response.status_code} {body.get('error_code', '')}: {body.get('message', '')}"


class MLflowRestClient:
    """
    One MLflow server's REST API, over one ``requests`` session with the connection's credentials.

    :param uri: The server's base URL (the connection's tracking or registry URI).
    :param auth: What each request carries (:meth:`MLflowSettings.http_auth`).
    :param max_retries: Retries of a call; MLflow's setting when None.
    :param timeout: Seconds a request may take; ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (120) when None.
    """

    def __init__(self, uri: str, auth: HttpAuth, *, max_retries: int | None = None, timeout: float | None = None):
        # Imported here, not with the module: a DAG file that imports the operators should not pay for it (~0.1 s).
        import requests
        from requests.adapters import HTTPAdapter

        self.uri = uri.rstrip("/")
        self.timeout = timeout if timeout is not None else _setting(os.environ, "TIMEOUT", 120)
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=mlflow_retry(max_retries))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.auth = auth.basic
        if auth.token:
            self.session.headers["Authorization"] = f"Bearer {auth.token}"
        self.session.verify = auth.verify
        self.session.cert = auth.cert

    def call(self, endpoint: str, method: str = "GET", *, timeout: float | None = None, **kwargs: Any) -> Any:
        """
        The JSON answer of ``endpoint`` (a path such as ``/api/2.0/mlflow/model-versions/get``).

        :param kwargs: ``params=`` or ``json=`` of the request.
        :raises requests.HTTPError: MLflow answered with an error (after the retries of a transient one).
        :raises requests.RequestException: the server could not be reached.
        """
        import requests

        response = self.session.request(method, self.uri + endpoint, timeout=timeout or self.timeout, **kwargs)
        if not response.ok:
            raise requests.HTTPError(_error_text(response), response=response)
        return response.json() if response.content else {}

    def get_run(self, run_id: str) -> TrackedRun:
        """Run ``run_id`` (its info, each metric's latest value, params, tags)."""
        return TrackedRun.of(self.call(f"{_API}/runs/get", params={"run_id": run_id})["run"])

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str,
        max_results: int,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
        deleted_too: bool = False,
    ) -> Page[TrackedRun]:
        """One page of the runs matching ``filter_string`` (active; deleted too if asked)."""
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "run_view_type": "ALL" if deleted_too else "ACTIVE_ONLY",
            "max_results": max_results,
            "order_by": list(order_by),
        }
        if page_token:
            body["page_token"] = page_token
        found = self.call(f"{_API}/runs/search", "POST", json=body)
        return Page(map(TrackedRun.of, found.get("runs") or []), found.get("next_page_token") or None)

    def get_experiment(self, experiment_id: str) -> TrackedExperiment:
        """Experiment ``experiment_id``."""
        found = self.call(f"{_API}/experiments/get", params={"experiment_id": experiment_id})
        return TrackedExperiment.of(found["experiment"])

    def get_experiment_by_name(self, name: str) -> TrackedExperiment | None:
        """The experiment called ``name``, or None."""
        try:
            found = self.call(f"{_API}/experiments/get-by-name", params={"experiment_name": name})
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        return TrackedExperiment.of(found["experiment"])

    def search_experiments(
        self, max_results: int, filter_string: str | None = None, page_token: str | None = None
    ) -> Page[TrackedExperiment]:
        """One page of the active experiments matching ``filter_string``."""
        body: dict[str, Any] = {"max_results": max_results, "view_type": "ACTIVE_ONLY"}
        if filter_string:
            body["filter"] = filter_string
        if page_token:
            body["page_token"] = page_token
        found = self.call(f"{_API}/experiments/search", "POST", json=body)
        experiments = map(TrackedExperiment.of, found.get("experiments") or [])
        return Page(experiments, found.get("next_page_token") or None)

    def get_model_version(self, name: str, version: str) -> RegistryVersion:
        """Version ``version`` of ``name``."""
        found = self.call(f"{_API}/model-versions/get", params={"name": name, "version": version})
        return RegistryVersion.of(found["model_version"])

    def get_model_version_by_alias(self, name: str, alias: str) -> RegistryVersion:
        """The version ``name@alias`` points at."""
        found = self.call(f"{_API}/registered-models/alias", params={"name": name, "alias": alias})
        return RegistryVersion.of(found["model_version"])

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        """Set (create or overwrite) one tag: one request, nothing read first."""
        body = {"name": name, "version": version, "key": key, "value": value}
        self.call(f"{_API}/model-versions/set-tag", "POST", json=body)


def rest_call(
    settings: MLflowSettings,
    uri: str,
    endpoint: str,
    method: str,
    timeout: float,
    *,
    deadline: float | None = None,
    **kwargs: Any,
) -> Any:
    """
    One call of ``endpoint`` on the server at ``uri``, no retry (``MlflowClient`` retries for ~245 s by default),
    through :class:`MLflowRestClient`; through MLflow's client only when its credentials need it
    (:meth:`MLflowSettings.http_auth`).

    :param settings: The connection whose credentials the call carries; MLflow's usual ones when it has none.
    :param timeout: Upper bound of the call, in seconds.
    :param deadline: A ``time.monotonic()`` the call must end by (at least 1 s is left to it), counted when the
        call starts, so that the time spent before (an import of MLflow's client) is taken from the call's.
    :param kwargs: ``json=`` or ``params=`` of the request.
    :return: The JSON answer (a non-2xx answer raises ``requests.HTTPError``, or MLflow's error).
    """
    auth = settings.http_auth()
    if auth is None:
        # Imported before the time left is counted: the import's seconds come out of the budget, not on top of it.
        from mlflow.utils.rest_utils import http_request_safe
    if deadline is not None:
        timeout = min(timeout, max(1.0, deadline - time.monotonic()))
    if auth is not None:
        return MLflowRestClient(uri, auth, max_retries=0, timeout=timeout).call(endpoint, method, **kwargs)
    response = http_request_safe(
        settings.host_creds(uri),
        endpoint,
        method,
        max_retries=0,
        backoff_factor=0,
        backoff_jitter=0,
        timeout=timeout,
        **kwargs,
    )
    return response.json()

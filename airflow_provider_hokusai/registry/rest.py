"""MLflow's REST API called once, in bounded time, with the connection's credentials: for answers a person waits on."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_hokusai.hooks.mlflow_rest import MLflowRestClient
from airflow_provider_hokusai.registry.connection import REMOTE_SCHEMES

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["is_remote", "rest_call"]


def is_remote(uri: str) -> bool:
    """Whether ``uri`` is reached over http(s) (else a local store the hook opens)."""
    return urlsplit(uri).scheme in REMOTE_SCHEMES


def rest_call(
    hook: MLflowHook,
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
    through :class:`~airflow_provider_hokusai.hooks.mlflow_rest.MLflowRestClient`; through MLflow's client only when
    its credentials need it (:meth:`MLflowSettings.http_auth`).

    :param hook: Whose connection's credentials the call carries; MLflow's usual ones when it has none.
    :param timeout: Upper bound of the call, in seconds.
    :param deadline: A ``time.monotonic()`` the call must end by (at least 1 s is left to it), counted when the
        call starts, so that the time spent before (an import of MLflow's client) is taken from the call's.
    :param kwargs: ``json=`` or ``params=`` of the request.
    :return: The JSON answer (a non-2xx answer raises ``requests.HTTPError``, or MLflow's error).
    """
    auth = hook.settings.http_auth()
    if auth is None:
        # Imported before the time left is counted: the import's seconds come out of the budget, not on top of it.
        from mlflow.utils.rest_utils import http_request_safe
    if deadline is not None:
        timeout = min(timeout, max(1.0, deadline - time.monotonic()))
    if auth is not None:
        return MLflowRestClient(uri, auth, max_retries=0, timeout=timeout).call(endpoint, method, **kwargs)
    response = http_request_safe(
        hook.settings.host_creds(uri),
        endpoint,
        method,
        max_retries=0,
        backoff_factor=0,
        backoff_jitter=0,
        timeout=timeout,
        **kwargs,
    )
    return response.json()

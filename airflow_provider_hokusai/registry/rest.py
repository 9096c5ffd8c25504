"""MLflow's REST API called once, in bounded time, with the connection's credentials: for answers a person waits on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_hokusai.registry.connection import REMOTE_SCHEMES

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["is_remote", "rest_call"]


def is_remote(uri: str) -> bool:
    """Whether ``uri`` is reached over http(s) (else a local store the hook opens)."""
    return urlsplit(uri).scheme in REMOTE_SCHEMES


def rest_call(hook: MLflowHook, uri: str, endpoint: str, method: str, timeout: float, **kwargs: Any) -> Any:
    """
    One call of ``endpoint`` on the server at ``uri``, no retry (``MlflowClient`` retries for ~245 s by default).

    :param hook: Whose connection's credentials the call carries; MLflow's usual ones when it has none.
    :param timeout: Upper bound of the call, in seconds.
    :param kwargs: ``json=`` or ``params=`` of the request.
    :return: The ``requests`` response (a non-2xx answer raises MLflow's error).
    """
    from mlflow.utils.rest_utils import http_request_safe

    return http_request_safe(
        hook.settings.host_creds(uri),
        endpoint,
        method,
        max_retries=0,
        backoff_factor=0,
        backoff_jitter=0,
        timeout=timeout,
        **kwargs,
    )

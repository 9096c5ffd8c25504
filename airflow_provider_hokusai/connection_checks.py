"""
Connection tests that answer in bounded time: what the UI's Test button, ``hokusai-reconcile --check`` and the hooks'
``test_connection`` run.

A publish may retry for a while (see :mod:`~airflow_provider_hokusai.retry`); a test must not: an admin pressing
Test wants the truth within seconds (at most 15). So a test makes **one attempt**, and every network call of it is
bounded by :data:`CALL_TIMEOUT_SECONDS` (less when the connection asks for less; MLflow's two calls together by
:data:`MLFLOW_BUDGET_SECONDS`):

* Redis: a client of its own (not the shared pool), no retry, connect and socket timeouts capped;
* SQS: a boto3 client built like the hook's (the connection's ``config_kwargs`` apply), with one attempt and capped
  connect/read timeouts;
* MLflow over http(s): MLflow's REST calls made directly with no retry and a capped timeout (the ``MlflowClient``
  retries for about 245 s by default), with the connection's credentials; local stores (sqlite, file) through the
  hook's client, which does no network I/O.

Nothing process-wide is changed (no ``MLFLOW_HTTP_*`` variable is set), so a test never slows down or speeds up a
publish running beside it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import redis
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook
    from mlflow.utils.rest_utils import MlflowHostCreds

    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.queue_settings import RedisQueueSettings

#: Upper bound of one network call of a test (connect, or wait for an answer), in seconds.
CALL_TIMEOUT_SECONDS = 5.0
#: botocore's connect timeout for a test; the read timeout is :data:`CALL_TIMEOUT_SECONDS`.
SQS_CONNECT_TIMEOUT_SECONDS = 3.0
#: Upper bound of an MLflow test's two REST calls together; the second gets what the first left (at least 1 s), so
#: a server slow to answer its first search (just started, busy) is not reported unusable for it.
MLFLOW_BUDGET_SECONDS = 13.0

EXPERIMENTS_SEARCH = "/api/2.0/mlflow/experiments/search"
REGISTERED_MODELS_SEARCH = "/api/2.0/mlflow/registered-models/search"
REMOTE_SCHEMES = ("http", "https")


@contextlib.contextmanager
def bounded_redis(settings: RedisQueueSettings) -> Iterator[redis.Redis]:
    """
    A redis-py client of ``settings`` for one test: its own connection (the shared pool is left alone), no retry,
    connect and socket timeouts at most :data:`CALL_TIMEOUT_SECONDS`; disconnected when the block ends.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    extra = settings.extra
    client = redis.Redis(
        ssl=settings.tls,
        socket_timeout=min(extra.socket_timeout, CALL_TIMEOUT_SECONDS),
        socket_connect_timeout=min(extra.socket_connect_timeout, CALL_TIMEOUT_SECONDS),
        retry=Retry(NoBackoff(), 0),
        client_name="airflow-provider-hokusai-test",
        **settings.connection_kwargs(),
    )
    try:
        yield client
    finally:
        client.close()


def bounded_sqs_client(sqs_hook: SqsHook) -> Any:
    """
    A boto3 SQS client of ``sqs_hook``'s connection for one test: its ``config_kwargs`` apply, but a single attempt
    and connect/read timeouts of at most :data:`SQS_CONNECT_TIMEOUT_SECONDS`/:data:`CALL_TIMEOUT_SECONDS` win.
    """
    from botocore.config import Config

    connection = sqs_hook.config
    connect = min(connection.connect_timeout or SQS_CONNECT_TIMEOUT_SECONDS, SQS_CONNECT_TIMEOUT_SECONDS)
    read = min(connection.read_timeout or CALL_TIMEOUT_SECONDS, CALL_TIMEOUT_SECONDS)
    bounded = Config(connect_timeout=connect, read_timeout=read, retries={"mode": "standard", "total_max_attempts": 1})
    return sqs_hook.get_client_type(config=connection.merge(bounded))


def probe_mlflow(hook: MLflowHook) -> None:
    """
    One small search on the tracking server and one on the model registry, each once, both within
    :data:`MLFLOW_BUDGET_SECONDS`.

    :raises Exception: the first call that failed (MLflow's, requests' or the hook's own error).
    """
    settings = hook.settings
    deadline = time.monotonic() + MLFLOW_BUDGET_SECONDS
    if _remote(settings.tracking_uri):
        creds = _host_creds(hook, settings.tracking_uri)
        _rest_call(creds, EXPERIMENTS_SEARCH, "POST", deadline, json={"max_results": 1})
    else:
        hook.client.search_experiments(max_results=1)
    if _remote(settings.registry_uri):
        creds = _host_creds(hook, settings.registry_uri)
        _rest_call(creds, REGISTERED_MODELS_SEARCH, "GET", deadline, params={"max_results": 1})
    else:
        hook.client.search_registered_models(max_results=1)


def _remote(uri: str) -> bool:
    return urlsplit(uri).scheme in REMOTE_SCHEMES


def _host_creds(hook: MLflowHook, uri: str) -> MlflowHostCreds:
    # The connection's credentials when it has some (as the hook's client gets them), else MLflow's usual ones.
    if hook.settings.password:
        return hook.settings.host_creds(uri)
    from mlflow.utils.credentials import get_default_host_creds

    return get_default_host_creds(uri)


def _rest_call(creds: MlflowHostCreds, endpoint: str, method: str, deadline: float, **kwargs: Any) -> None:
    from mlflow.utils.rest_utils import http_request_safe

    timeout = max(1.0, deadline - time.monotonic())
    http_request_safe(
        creds, endpoint, method, max_retries=0, backoff_factor=0, backoff_jitter=0, timeout=timeout, **kwargs
    )

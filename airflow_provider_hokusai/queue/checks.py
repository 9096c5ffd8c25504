"""
Connection tests that answer in bounded time: what the UI's Test button, ``hokusai-reconcile --check`` and the hooks'
``test_connection`` run.

A publish may retry for a while (see :mod:`~airflow_provider_hokusai.queue.retry`); a test must not: an admin pressing
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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    from airflow_provider_hokusai.queue.settings import RedisQueueSettings

__all__ = ["CALL_TIMEOUT_SECONDS", "bounded_redis", "bounded_sqs_client"]

#: Upper bound of one network call of a test (connect, or wait for an answer), in seconds.
CALL_TIMEOUT_SECONDS = 5.0
#: botocore's connect timeout for a test; the read timeout is :data:`CALL_TIMEOUT_SECONDS`.
SQS_CONNECT_TIMEOUT_SECONDS = 3.0


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

"""
Which typed error a Redis failure is, decided from what redis-py raised: pure functions, no I/O.

One table for the Redis hook and its client's ``Retry`` (which failures are retried), tested without a broker.
redis-py's error texts hold no credentials. Imported by the Redis side only, so an install with the ``amazon``
extra alone never needs redis-py.
"""

from __future__ import annotations

from redis import exceptions as rex

from airflow_provider_hokusai.exceptions import HokusaiError, QueuePermanentError, QueuePublishError
from airflow_provider_hokusai.utils.redaction import describe

__all__ = ["REDIS_ACCESS", "REDIS_RETRYABLE", "redis_error"]

#: Redis failures that retrying may cure: the connection, a timeout, a replica during failover, a full server.
REDIS_RETRYABLE = (rex.ConnectionError, rex.TimeoutError, ConnectionResetError, rex.ReadOnlyError, rex.OutOfMemoryError)
#: Redis refusing the connection's credentials or its rights: never retried.
REDIS_ACCESS = (rex.AuthenticationError, rex.AuthorizationError, rex.NoPermissionError)


def redis_error(exc: Exception, where: str, attempts: int) -> HokusaiError:
    """
    The typed error of a failed Redis call: a refused login or command is permanent; a connection error, timeout,
    read-only replica or full server is retryable (the publish is deduplicated by id).

    :param where: The list and server, as the text names them.
    :param attempts: Tries redis-py made.
    """
    if isinstance(exc, REDIS_ACCESS):
        return QueuePermanentError(f"{where} refused the connection's credentials: {describe(exc)}")
    if isinstance(exc, rex.ResponseError) and not isinstance(exc, REDIS_RETRYABLE):
        return QueuePermanentError(f"{where} refused the message: {describe(exc)}")
    return QueuePublishError(
        f"could not publish to {where} after {attempts} attempt(s): {describe(exc)}; "
        "a retry is safe (messages are deduplicated by id)"
    )

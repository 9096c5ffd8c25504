"""broker_errors: which typed error a Redis or SQS failure is, and how many tries the client made before it."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ParamValidationError
from redis import exceptions as rex

from airflow_provider_hokusai.exceptions import (
    HokusaiPermanentError,
    QueuePermanentError,
    QueuePublishError,
)
from airflow_provider_hokusai.queue.redis_errors import redis_error
from airflow_provider_hokusai.queue.sqs_errors import sqs_attempts, sqs_entry_error, sqs_error

WHERE = "SQS queue 'q'"


def client_error(code: str, status: int, retries: int = 0) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries},
    }
    return ClientError(response, "SendMessageBatch")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("AWS.SimpleQueueService.NonExistentQueue", 400, QueuePermanentError),
        ("QueueDoesNotExist", 400, QueuePermanentError),
        ("AccessDenied", 403, QueuePermanentError),
        ("SomethingNew", 403, QueuePermanentError),  # any 403 is a refusal of the credentials
        ("KMS.DisabledException", 400, QueuePermanentError),
        ("ThrottlingException", 400, QueuePublishError),
        ("RequestThrottled", 400, QueuePublishError),
        ("SomethingNew", 503, QueuePublishError),  # any 5xx is SQS's side
        ("InvalidParameterValue", 400, QueuePermanentError),
    ],
)
def test_sqs_error_responses_by_code_and_status(code: str, status: int, kind: type[Exception]) -> None:
    error = sqs_error(client_error(code, status), WHERE, "publish to", attempts=3)
    assert type(error) is kind
    assert WHERE in str(error) and code in str(error)
    assert isinstance(error, HokusaiPermanentError) is (kind is not QueuePublishError)


def test_retryable_errors_say_how_many_tries_and_that_retrying_is_safe() -> None:
    error = sqs_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), WHERE, "look up", attempts=5)
    assert type(error) is QueuePublishError
    assert str(error).startswith(f"could not look up {WHERE} after 5 attempt(s): EndpointConnectionError")
    assert str(error).endswith("a retry is safe")


def test_requests_botocore_refuses_to_send_are_permanent() -> None:
    assert type(sqs_error(NoCredentialsError(), WHERE, "publish to", 1)) is QueuePermanentError
    bad = ParamValidationError(report="Invalid length for parameter MessageBody")
    assert type(sqs_error(bad, WHERE, "publish to", 1)) is QueuePermanentError


@pytest.mark.parametrize(
    ("exc", "attempts"),
    [
        (client_error("ThrottlingException", 400, retries=2), 3),  # botocore's own count on the response
        (client_error("AccessDenied", 403), 1),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), 4),  # standard mode raises it when exhausted
        (NoCredentialsError(), 1),  # never sent, never retried
    ],
)
def test_sqs_attempts(exc: Exception, attempts: int) -> None:
    assert sqs_attempts(exc, exhausted=4) == attempts


def test_refused_batch_entries_are_permanent_only_when_the_sender_is_at_fault() -> None:
    mine = sqs_entry_error(WHERE, "InvalidMessageContents", "bad body", sender_fault=True)
    theirs = sqs_entry_error(WHERE, "InternalError", "try again", sender_fault=False)
    assert type(mine) is QueuePermanentError and "InvalidMessageContents: bad body" in str(mine)
    assert type(theirs) is QueuePublishError and str(theirs).endswith("a retry is safe")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (rex.AuthenticationError("invalid username-password pair"), QueuePermanentError),
        (rex.NoPermissionError("no permissions to run the 'evalsha' command"), QueuePermanentError),
        (rex.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), QueuePermanentError),
        (rex.ReadOnlyError("You can't write against a read only replica."), QueuePublishError),
        (rex.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), QueuePublishError),
        (rex.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), QueuePublishError),
        (rex.TimeoutError("Timeout reading from socket"), QueuePublishError),
    ],
)
def test_redis_errors(exc: Exception, kind: type[Exception]) -> None:
    error = redis_error(exc, "redis list 'q' at 127.0.0.1:6379", attempts=3)
    assert type(error) is kind
    assert "redis list 'q' at 127.0.0.1:6379" in str(error) and type(exc).__name__ in str(error)
    if kind is QueuePublishError:
        assert "after 3 attempt(s)" in str(error)

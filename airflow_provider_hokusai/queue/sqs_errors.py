"""
Which typed error an SQS failure is, decided from what botocore raised: pure functions, no I/O.

The SQS hook hands its client's exception here, so the decision "retrying may help, or not, and why" is one table,
tested without a broker. botocore's error texts hold no credentials. Imported by the SQS hook only, so an install
with the ``redis`` extra alone never needs botocore.
"""

from __future__ import annotations

from botocore.exceptions import ClientError, NoCredentialsError, ParamValidationError, PartialCredentialsError

from airflow_provider_hokusai.exceptions import HokusaiError, QueuePermanentError, QueuePublishError
from airflow_provider_hokusai.utils.redaction import describe

__all__ = ["sqs_attempts", "sqs_entry_error", "sqs_error"]

_SQS_NOT_FOUND_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue", "QueueDeletedRecently"}
)
_SQS_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSecurity",
        "KMS.AccessDeniedException",
        "KMS.DisabledException",
    }
)
_SQS_TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestThrottled", "ServiceUnavailable", "RequestTimeout"}
    | {"InternalError", "InternalFailure", "KMS.ThrottlingException"}
)


def sqs_attempts(exc: Exception, exhausted: int) -> int:
    """
    Tries botocore made before raising ``exc``: its own count on an error response, none beyond the first for a
    request it refused to send, ``exhausted`` (the policy's attempts) for a connection error, which standard mode
    raises only once every attempt failed.
    """
    if isinstance(exc, ClientError):
        return 1 + int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts") or 0)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ParamValidationError):
        return 1
    return exhausted


def sqs_error(exc: Exception, where: str, action: str, attempts: int) -> HokusaiError:
    """
    The typed error of a failed SQS call.

    :param where: The queue, as the text names it (``SQS queue 'name'``).
    :param action: What failed, for a retryable error's text (``publish to``, ``look up``).
    :param attempts: What :func:`sqs_attempts` said.
    """
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _SQS_NOT_FOUND_CODES:
            return QueuePermanentError(f"{where} does not exist: {describe(exc)}")
        if code in _SQS_ACCESS_CODES or status == 403:
            return QueuePermanentError(f"{where}: access denied: {describe(exc)}")
        if not (code in _SQS_TRANSIENT_CODES or status >= 500):
            return QueuePermanentError(f"{where} refused the request: {describe(exc)}")
    elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return QueuePermanentError(f"{where}: {describe(exc)}")
    elif isinstance(exc, ParamValidationError):
        return QueuePermanentError(f"{where} refused the request: {describe(exc)}")
    return QueuePublishError(
        f"could not {action} {where} after {attempts} attempt(s): {describe(exc)}; a retry is safe"
    )


def sqs_entry_error(where: str, code: object, message: object, sender_fault: bool) -> HokusaiError:
    """The typed error of one entry SQS refused in a batch: the sender's fault is permanent, SQS's retryable."""
    what = f"{where} refused the message: {code}: {message}"
    return QueuePermanentError(what) if sender_fault else QueuePublishError(f"{what}; a retry is safe")

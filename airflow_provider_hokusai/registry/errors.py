"""Which typed error an MLflow failure is, decided from what MLflow raised: pure functions, no I/O.

The registry's counterpart of :mod:`airflow_provider_hokusai.queue.sqs_errors`: MLflow answers "no such model, version
or alias" with one of :data:`NOT_FOUND_CODES` (a refusal: retrying cannot create it), "already there" with one of
:data:`ALREADY_EXISTS_CODES`; anything else that is not the provider's own error means the registry could not be
read or written, which a retry may fix.
"""

from __future__ import annotations

from airflow_provider_hokusai.exceptions import HokusaiError, RegistryUnavailableError
from airflow_provider_hokusai.utils.redaction import describe

__all__ = ["ALREADY_EXISTS_CODES", "NOT_FOUND_CODES", "already_exists", "error_code", "is_not_found", "unavailable"]

# MLflow's REST store says RESOURCE_DOES_NOT_EXIST; a version number that is not a number is INVALID_PARAMETER_VALUE.
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"})
ALREADY_EXISTS_CODES = frozenset({"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"})


def error_code(exc: BaseException) -> str | None:
    """
    MLflow's ``error_code`` of a failure: from MLflow's exception, or from the answer a ``requests.HTTPError`` of
    :class:`~airflow_provider_hokusai.registry.rest.MLflowRestClient` carries; None for any other failure.
    """
    code = getattr(exc, "error_code", None)
    response = getattr(exc, "response", None)
    if code is None and response is not None:
        try:
            body = response.json()
        except ValueError:
            return None
        code = body.get("error_code") if isinstance(body, dict) else None
    return str(code) if code else None


def is_not_found(exc: BaseException) -> bool:
    """Whether MLflow answered that the model, version or alias does not exist."""
    return error_code(exc) in NOT_FOUND_CODES


def already_exists(exc: BaseException) -> bool:
    """Whether MLflow answered that what was to be created exists already."""
    return error_code(exc) in ALREADY_EXISTS_CODES


def unavailable(exc: BaseException, doing: str) -> HokusaiError:
    """
    The typed error of a failure while ``doing``: the provider's own error as it is, else
    :class:`~airflow_provider_hokusai.exceptions.RegistryUnavailableError` (a retry is safe: nothing was published).

    :param doing: What was being done, e.g. ``"read churn v7 from the MLflow registry"``.
    """
    if isinstance(exc, HokusaiError):
        return exc
    return RegistryUnavailableError(f"could not {doing} ({describe(exc)}); nothing was published and a retry is safe")

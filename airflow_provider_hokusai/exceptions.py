"""Exceptions raised by the Hokusai provider: one class per kind of failure a caller handles differently.

Two families matter to Airflow: :class:`HokusaiPermanentError` subclasses ``AirflowFailException`` so a task
fails at once without burning its retries (a bad message will never become good by retrying), while
:class:`HokusaiRetryableError` subclasses ``AirflowException`` so Airflow's retries with backoff take over.

Refusals of input name every failing field and its rule (:class:`InvalidInputError` and its subclasses); what was
refused (a registration input, a connection, a retry policy...) is the error's :attr:`~InvalidInputError.subject`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_hokusai.utils.compat import AirflowFailException

__all__ = [
    "AnnouncementRefusedError",
    "BaselineNotMetError",
    "FieldError",
    "HokusaiError",
    "HokusaiPermanentError",
    "HokusaiRetryableError",
    "InvalidConfigurationError",
    "InvalidInputError",
    "InvalidMessageSignature",
    "InvalidModelReadyMessage",
    "InvalidQueueMessage",
    "ModelRegistrationError",
    "ModelRegistrationTimeout",
    "QueueBatchError",
    "QueuePermanentError",
    "QueuePublishError",
    "ReceiptNotRecordedError",
    "ReconciliationIncompleteError",
    "RegistryUnavailableError",
    "WebhookRejected",
]


class HokusaiError(Exception):
    """Base class of every error raised by this provider."""


class HokusaiPermanentError(HokusaiError, AirflowFailException):
    """An error that retrying cannot fix; the task fails without further attempts."""


class HokusaiRetryableError(HokusaiError, AirflowException):
    """A transient error (broker down, timeout); Airflow's task retries should take over."""


class FieldError(tuple[str, str]):
    """One failing ``(field, rule)`` pair."""

    __slots__ = ()

    def __new__(cls, field: str, rule: str) -> FieldError:
        return super().__new__(cls, (field, rule))

    @property
    def field(self) -> str:
        return self[0]

    @property
    def rule(self) -> str:
        return self[1]


# Refused input: permanent, and the text names every field and rule, never the values (a secret may be one).


class InvalidInputError(HokusaiPermanentError, ValueError):
    """
    Input that breaks a rule (operator and sensor arguments, registration input, baseline values).

    :param errors: Every failing ``(field, rule)`` pair.
    :param subject: What was refused, e.g. ``"model registration input"``; the class's own by default.
    """

    subject = "input"

    def __init__(self, errors: Sequence[tuple[str, str]], *, subject: str | None = None) -> None:
        if subject is not None:
            self.subject = subject
        self.errors: list[FieldError] = [FieldError(f, r) for f, r in errors]
        detail = "; ".join(f"{e.field}: {e.rule}" for e in self.errors)
        super().__init__(f"invalid {self.subject} ({len(self.errors)} error(s)): {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled across Celery and the triggerer with its subject kept.
        return (_rebuild, (type(self), [tuple(e) for e in self.errors], self.subject))

    @property
    def fields(self) -> list[str]:
        return [e.field for e in self.errors]


def _rebuild(cls: type[InvalidInputError], errors: list[tuple[str, str]], subject: str) -> InvalidInputError:
    return cls(errors, subject=subject)


class InvalidConfigurationError(InvalidInputError):
    """
    Configuration an admin must fix: a connection (mlflow, queue, signing key, webhook secret) that is missing or
    breaks a rule, a queue connection of a type with no queue hook, a ``[hokusai]`` option, a retry policy.
    """

    subject = "configuration"


class InvalidModelReadyMessage(InvalidInputError):
    """A ``model_ready_to_deploy`` message that the token deployer would reject; consumers dead-letter it."""

    subject = "model_ready_to_deploy message"


class InvalidMessageSignature(InvalidModelReadyMessage):
    """
    A received message whose signature does not prove it came, unaltered, from a producer holding a configured key:
    unsigned while a signature is required, a key id that is missing or unknown, a malformed or wrong signature.

    The text names the tag (``tags.signature`` or ``tags.key_id``) and the rule, never key material.
    """

    subject = "model_ready_to_deploy message signature"


# The baseline gate and registration.


class BaselineNotMetError(HokusaiPermanentError):
    """
    The gate did not pass; :attr:`kind` says why, as the gate's ``FailureKind`` value: ``baseline_not_met``,
    ``run_failed`` (FAILED/KILLED), ``metric_missing``, ``baseline_unavailable`` or ``invalid_input`` (values that
    cannot be compared).

    :param reason: The decision's reason.
    :param kind: The failure kind's value.
    """

    def __init__(self, reason: str, kind: str = "baseline_not_met") -> None:
        super().__init__(reason)
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.kind))


class ModelRegistrationError(HokusaiPermanentError):
    """The registry refused the model version (FAILED_REGISTRATION or an unusable source)."""


class ModelRegistrationTimeout(HokusaiRetryableError):
    """The model version is not READY yet; a retry reuses the same version and resumes the wait."""


# Announcing.


class AnnouncementRefusedError(HokusaiPermanentError):
    """A model version that may not be announced: not validated, missing, or its evidence is missing."""


class RegistryUnavailableError(HokusaiRetryableError):
    """The MLflow registry could not be read or written (unreachable, timing out); nothing was published."""


class ReceiptNotRecordedError(RegistryUnavailableError):
    """Published, but the receipt could not be written to MLflow; the retry is absorbed by deduplication."""


class ReconciliationIncompleteError(HokusaiRetryableError):
    """Reconciliation announced what it could, but some versions failed; they keep their failure tags."""


# The brokers.


class QueuePublishError(HokusaiRetryableError):
    """
    The broker did not take the message within the bounded in-task retries (down, timing out, throttling).

    Airflow's task retries take over; they are safe because the queue hooks deduplicate on the message id.
    """


class QueuePermanentError(HokusaiPermanentError):
    """The broker refused in a way retrying cannot fix: the queue does not exist, access denied, message refused."""


class InvalidQueueMessage(InvalidInputError, QueuePermanentError):
    """A value the queue hooks refuse to publish: not a rendered message, or larger than the queue carries."""

    subject = "queue message"


class QueueBatchError(QueuePublishError):
    """
    Some messages of a batch were taken by the broker and others were not.

    Retrying the whole batch is safe (taken messages are deduplicated); callers that keep per-message records
    use :attr:`receipts` and :attr:`errors`, both keyed by the message's position in the batch.

    :param receipts: Position → ``PublishReceipt`` of each message the broker took.
    :param errors: Position → the typed error of each message it did not take.
    """

    def __init__(self, receipts: Mapping[int, Any], errors: Mapping[int, HokusaiError]) -> None:
        self.receipts = dict(receipts)
        self.errors = dict(errors)
        first = next(iter(self.errors.values()))
        super().__init__(
            f"{len(self.errors)} of {len(self.receipts) + len(self.errors)} message(s) were not published "
            f"(first: {type(first).__name__}: {first}); the others were"
        )


# MLflow registry webhooks (the /hokusai/webhooks receiver).


class WebhookRejected(HokusaiPermanentError):
    """
    A webhook delivery the receiver refuses; :attr:`http_status` is the HTTP answer: 400 a body that is not the
    JSON object MLflow sends, 401 a signature, delivery id or timestamp that is missing, malformed, wrong or
    outside the window, 409 a replayed delivery id, 413 a body too large. The text names the header or field and
    the rule, never a secret nor the presented signature.

    :param reason: What is wrong.
    :param http_status: The HTTP status the receiver answers.
    """

    def __init__(self, reason: str, http_status: int = 400) -> None:
        super().__init__(reason)
        self.http_status = http_status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.http_status))

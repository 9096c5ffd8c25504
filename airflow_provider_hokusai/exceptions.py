"""Exceptions raised by the Hokusai provider.

Two families matter to Airflow: :class:`HokusaiPermanentError` subclasses ``AirflowFailException`` so a task
fails at once without burning its retries (a bad message will never become good by retrying), while
:class:`HokusaiRetryableError` subclasses ``AirflowException`` so Airflow's retries with backoff take over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException


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


class InvalidInputError(HokusaiPermanentError, ValueError):
    """Input that breaks a rule; the message names every failing field and its rule."""

    subject = "input"

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors: list[FieldError] = [FieldError(f, r) for f, r in errors]
        detail = "; ".join(f"{e.field}: {e.rule}" for e in self.errors)
        super().__init__(f"invalid {self.subject} ({len(self.errors)} error(s)): {detail}")

    @property
    def fields(self) -> list[str]:
        return [e.field for e in self.errors]


class InvalidModelReadyMessage(InvalidInputError):
    """A ``model_ready_to_deploy`` message that the token deployer would reject."""

    subject = "model_ready_to_deploy message"


class InvalidBaselineInput(InvalidInputError):
    """A metric value, baseline or threshold that cannot be compared."""

    subject = "baseline comparison input"


class BaselineNotMetError(HokusaiPermanentError):
    """The candidate finished but did not beat its baseline."""


class AnnouncementRefusedError(HokusaiPermanentError):
    """A model version that may not be announced: not validated, or its evidence is missing."""


class ReceiptNotRecordedError(HokusaiRetryableError):
    """Published, but the receipt could not be written to MLflow; the retry is absorbed by deduplication."""


class RegistryUnavailableError(HokusaiRetryableError):
    """The MLflow registry could not be read or written (unreachable, timing out); nothing was published."""


class ReconciliationIncompleteError(HokusaiRetryableError):
    """Reconciliation announced what it could, but some versions failed; they keep their failure tags."""


# MLflow side: baseline gate and registration.


class InvalidMLflowConnection(InvalidInputError):
    """An ``mlflow`` connection the hook cannot turn into a tracking URI."""

    subject = "mlflow connection"


class InvalidRegistrationInput(InvalidInputError):
    """Registration input (model URI, token symbol, evidence...) that breaks the contract's rules."""

    subject = "model registration input"


class RunFailedError(HokusaiPermanentError):
    """The candidate run ended FAILED or KILLED."""


class MetricMissingError(HokusaiPermanentError):
    """The candidate run finished without the metric, or with a non-finite value."""


class BaselineUnavailableError(HokusaiPermanentError):
    """No baseline to compare with: the reference alias is missing and no fallback value is set."""


class ModelRegistrationError(HokusaiPermanentError):
    """The registry refused the model version (FAILED_REGISTRATION or an unusable source)."""


class ModelRegistrationTimeout(HokusaiRetryableError):
    """The model version is not READY yet; a retry reuses the same version and resumes the wait."""


# Operations: the queue health endpoint.


class InvalidHealthConfiguration(InvalidInputError):
    """A ``[hokusai]`` health option (connection ids, timeout, auth flag) that breaks its rule."""

    subject = "[hokusai] health configuration"


# Queue side: publishing model_ready_to_deploy messages to Redis or SQS.


class InvalidRetryPolicy(InvalidInputError):
    """A :class:`~airflow_provider_hokusai.queue.retry.RetryPolicy` whose attempts, backoff or jitter break a rule."""

    subject = "retry policy"


class QueuePublishError(HokusaiRetryableError):
    """
    The broker did not take the message within the bounded in-task retries (down, timing out, throttling).

    Airflow's task retries take over; they are safe because the queue hooks deduplicate on the message id.
    """


class QueuePermanentError(HokusaiPermanentError):
    """A publish or status call that retrying cannot fix; nothing was published."""


class QueueConnectionTypeError(QueuePermanentError):
    """The connection's type has no queue hook: only ``redis``/``rediss`` and ``aws`` connections do."""


class QueueNotFoundError(QueuePermanentError):
    """The named queue does not exist on the broker (SQS), or no queue is configured at all."""


class QueueAccessDeniedError(QueuePermanentError):
    """The broker refused the credentials or the operation (authentication or authorization)."""


class InvalidQueueConfiguration(InvalidInputError, QueuePermanentError):
    """A queue connection extra or hook argument (timeouts, pool size, TTL, queue names) that breaks its rule."""

    subject = "queue configuration"


class InvalidQueueMessage(InvalidInputError, QueuePermanentError):
    """A value the queue hooks refuse to publish: not a rendered message, or one the broker cannot carry."""

    subject = "queue message"


class MessageTooLargeError(InvalidQueueMessage):
    """The serialized message (with its attributes) exceeds the queue's size limit; nothing was sent."""


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


class BaselineComparisonError(HokusaiPermanentError):
    """The candidate's metric and its baseline could not be compared (e.g. a value <= 0, an unknown direction)."""


# Signed announcements: keys and verification (airflow_provider_hokusai.signing).


class InvalidSigningKey(InvalidInputError, QueuePermanentError):
    """
    A signing key that is missing or unusable (undefined connection, no password, too short, bad key id).

    Raised before anything is published; its text names the connection and the rule, never the key itself.
    """

    subject = "signing key"


class InvalidMessageSignature(InvalidModelReadyMessage):
    """
    A received message whose signature does not prove it came, unaltered, from a producer holding a configured key.

    A permanent error: the consumer dead-letters the message rather than retrying it. The text names the tag
    (``tags.signature`` or ``tags.key_id``) and the rule, never key material.
    """

    subject = "model_ready_to_deploy message signature"


class BadSignatureError(InvalidMessageSignature):
    """The signature is malformed, or does not match the message under the key its ``key_id`` names."""


class UnknownSigningKeyError(InvalidMessageSignature):
    """The message names no key id, or one that is not among the verifier's configured keys."""


class UnsignedMessageError(InvalidMessageSignature):
    """The message carries no signature while the verifier requires one."""


# MLflow registry webhooks (airflow_provider_hokusai.registry.events and the /hokusai/webhooks receiver).


class InvalidWebhookSecrets(InvalidInputError):
    """
    The receiver's secrets are missing or unusable (undefined connection, no secret, one too short).

    Its text names the connection field and the rule, never a secret.
    """

    subject = "MLflow webhook secret configuration"


class WebhookRejected(HokusaiPermanentError):
    """
    A webhook delivery the receiver refuses; ``http_status`` is the HTTP answer. The text names the header or field
    and the rule, never a secret nor the presented signature.
    """

    http_status = 400


class WebhookSignatureError(WebhookRejected):
    """The signature, delivery id or timestamp header is missing or malformed, or no configured secret signed it."""

    http_status = 401


class WebhookStaleError(WebhookRejected):
    """The signed timestamp lies outside the accepted window (a delayed or replayed delivery)."""

    http_status = 401


class WebhookReplayError(WebhookRejected):
    """A delivery id the receiver already recorded within the window."""

    http_status = 409


class WebhookPayloadError(InvalidInputError, WebhookRejected):
    """A signed body that is not the JSON object MLflow sends (names the field and rule)."""

    subject = "MLflow webhook payload"
    http_status = 400


class WebhookTooLargeError(WebhookRejected):
    """A body larger than the receiver accepts."""

    http_status = 413

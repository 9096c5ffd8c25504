"""
Publish ``model_ready_to_deploy`` messages to an Amazon SQS queue (standard or FIFO).

Built on the official :class:`~airflow.providers.amazon.aws.hooks.sqs.SqsHook`: its ``aws`` connection, credentials
chain, ``endpoint_url`` and ``config_kwargs`` work as usual, and its public ``get_client_type`` builds the client,
with botocore's ``standard`` retry mode as the one retry layer.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.amazon.aws.hooks.sqs import SqsHook

from airflow_provider_hokusai.exceptions import (
    HokusaiError,
    InvalidConfigurationError,
    InvalidQueueMessage,
    QueuePublishError,
)
from airflow_provider_hokusai.hooks.base_queue import ModelReadyQueueHook
from airflow_provider_hokusai.queue.connection_types import SQS_CONN_TYPE, SQS_HOOK_NAME
from airflow_provider_hokusai.queue.receipts import QueueStatus, Sent, elapsed_ms
from airflow_provider_hokusai.queue.settings import QueueExtra
from airflow_provider_hokusai.queue.sqs_errors import sqs_attempts, sqs_entry_error, sqs_error
from airflow_provider_hokusai.utils.redaction import describe
from airflow_provider_hokusai.utils.validation import validate

if TYPE_CHECKING:
    from airflow_provider_hokusai.messages import ModelReadyToDeployMessage

__all__ = ["HokusaiSqsQueueHook", "SqsQueueHook"]

_MAX_BATCH_ENTRIES = 10  # SendMessageBatch's limit
# Timeouts unless the connection's config_kwargs set them: a publish should fail fast and let botocore retry.
_DEFAULT_CONNECT_TIMEOUT = 5
_DEFAULT_READ_TIMEOUT = 10
_GROUP_ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")  # a FIFO MessageGroupId


class _SqsHook(SqsHook):
    """
    The official hook, reading a ``hokusai_sqs`` connection without its "expected connection type 'aws'" warning.

    A ``hokusai_sqs`` connection is an ``aws`` connection under the provider's type (for its Test button); the
    warning is silenced for that type only, around the one read of the connection.
    """

    @cached_property
    def conn_config(self) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=rf".*expected connection type 'aws', got '{SQS_CONN_TYPE}'")
            return super().conn_config


class SqsQueueHook(ModelReadyQueueHook):
    """
    Publish ``model_ready_to_deploy`` messages to an SQS queue, given by name or URL.

    * FIFO queues (name ending in ``.fifo``) get ``MessageGroupId`` = the message's ``model_id`` (ordering per model)
      and ``MessageDeduplicationId`` = its message id, so SQS drops a copy sent within its 5-minute deduplication
      window. A standard queue is at-least-once: consumers deduplicate on the ``message_id`` attribute.
    * The body is the flat contract JSON; message attributes carry ``message_id``, ``message_type`` and
      ``message_version``; the size (body plus attributes) is checked before sending.
    * Messages go out with ``SendMessageBatch`` (up to 10 a call); each entry's outcome is its own.
    * Retries: botocore's standard mode with ``total_max_attempts`` from the retry policy (throttling, 5xx,
      connection errors), under the connection's ``config_kwargs``; an explicit ``retry`` argument wins over them.

    Extra keys besides the official ones: ``queue`` (name or URL), ``max_message_bytes``.

    :param aws_conn_id: The ``aws`` connection. (templated in the operators)
    :param region_name: AWS region; defaults to the connection's.
    :param kwargs: ``queue_name``, ``retry``, ``dedup_ttl_seconds`` (unused: SQS fixes the FIFO window at 5 minutes),
        ``max_message_bytes``, as for every queue hook.
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Hokusai queue (Amazon SQS)"
    backend = "sqs"

    def __init__(self, aws_conn_id: str | None = default_conn_name, *, region_name: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.sqs_hook: SqsHook = _SqsHook(aws_conn_id=aws_conn_id, region_name=region_name)
        self._retry_attempts = 0

    @cached_property
    def extra(self) -> QueueExtra:
        extra = self.sqs_hook.conn_config.extra_config
        return validate(QueueExtra, extra, InvalidConfigurationError, subject="queue configuration", prefix="extra.")

    @cached_property
    def client(self) -> Any:
        """The boto3 SQS client: the official hook's, with this hook's retries and timeouts under the connection's."""
        from botocore.config import Config

        retries = Config(retries=self.retry_policy.to_botocore_retries())
        defaults = retries.merge(Config(connect_timeout=_DEFAULT_CONNECT_TIMEOUT, read_timeout=_DEFAULT_READ_TIMEOUT))
        config = defaults.merge(self.sqs_hook.config)
        if self.args.retry is not None:
            config = config.merge(retries)
        return self.sqs_hook.get_client_type(config=config)

    def get_conn(self) -> Any:
        return self.client

    @cached_property
    def _queue_setting(self) -> str:
        value = self.args.queue_name or self.extra.queue
        if not value:
            raise InvalidConfigurationError(
                [("queue_name", "no SQS queue: pass queue_name or set the connection extra 'queue' (name or URL)")],
                subject="queue configuration",
            )
        return value.strip()

    @property
    def queue_name(self) -> str:
        """The queue's name (the last path segment when a URL was given); no I/O."""
        if self._queue_setting.startswith(("http://", "https://")):
            return urlsplit(self._queue_setting).path.rstrip("/").rsplit("/", 1)[-1]
        return self._queue_setting

    @property
    def destination(self) -> str:
        return self.queue_url

    @property
    def is_fifo(self) -> bool:
        return self.queue_name.endswith(".fifo")

    @cached_property
    def queue_url(self) -> str:
        """The queue's URL: as given, or looked up once by name (``GetQueueUrl``)."""
        if self._queue_setting.startswith(("http://", "https://")):
            return self._queue_setting
        try:
            return str(self.client.get_queue_url(QueueName=self._queue_setting)["QueueUrl"])
        except Exception as exc:
            raise self._translate(exc, "look up") from exc

    # Publishing.

    def _message_size(self, message: ModelReadyToDeployMessage, body: str) -> int:
        # SQS counts the attributes' names, types and values against the limit as the body.
        attributes = self._message_attributes(message).items()
        return len(body.encode()) + sum(len(k) + len("String") + len(v.encode()) for k, v in attributes)

    def _serialize(self, message: object, field: str) -> str:
        body = super()._serialize(message, field)
        if self.is_fifo and not _GROUP_ID_PATTERN.match(getattr(message, "model_id", "")):
            rule = "must be 1-128 letters, digits or punctuation (no spaces) to be an SQS FIFO MessageGroupId"
            raise InvalidQueueMessage([("model_id" if field == "message" else f"{field}.model_id", rule)])
        return body

    def _message_attributes(self, message: ModelReadyToDeployMessage) -> dict[str, str]:
        # A signing queue sends key_id and signature as attributes too (a consumer may route on them without parsing
        # the body); _message_size counts them against the limit, since it reads the attributes from here.
        return super()._message_attributes(message) | self.signer.tags(message)

    def _entry(self, index: int, message: ModelReadyToDeployMessage, body: str) -> dict[str, Any]:
        attributes = self._message_attributes(message).items()
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": body,
            "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attributes},
        }
        if self.is_fifo:
            entry |= {"MessageGroupId": message.model_id, "MessageDeduplicationId": message.message_id}
        return entry

    def _batches(self, messages: Sequence[ModelReadyToDeployMessage], bodies: Sequence[str]) -> Iterator[list[Any]]:
        """Entries in calls of at most 10 whose sizes add up to at most the limit (SQS's batch rule)."""
        batch: list[dict[str, Any]] = []
        size = 0
        for index, (message, body) in enumerate(zip(messages, bodies, strict=True)):
            entry_size = self._message_size(message, body)
            if batch and (len(batch) == _MAX_BATCH_ENTRIES or size + entry_size > self.max_message_bytes):
                yield batch
                batch, size = [], 0
            batch.append(self._entry(index, message, body))
            size += entry_size
        yield batch

    def _send(
        self, messages: Sequence[ModelReadyToDeployMessage], bodies: Sequence[str], now: str
    ) -> list[Sent | HokusaiError]:
        outcomes: list[Sent | HokusaiError | None] = [None] * len(bodies)
        self._retry_attempts = 0
        try:
            client, url = self.client, self.queue_url
            for batch in self._batches(messages, bodies):
                response = client.send_message_batch(QueueUrl=url, Entries=batch)
                self._retry_attempts = max(self._retry_attempts, response["ResponseMetadata"].get("RetryAttempts", 0))
                for ok in response.get("Successful", []):
                    outcomes[int(ok["Id"])] = Sent(broker_message_id=ok.get("MessageId"))
                for failed in response.get("Failed", []):
                    outcomes[int(failed["Id"])] = self._entry_error(failed)
        except Exception as exc:
            error = self._translate(exc, "publish to")
            if all(outcome is None for outcome in outcomes):
                raise error from exc
            # Later batches were never sent: each of their messages failed with the call's error.
            return [error if outcome is None else outcome for outcome in outcomes]
        return [outcome or QueuePublishError("SQS did not report on the message") for outcome in outcomes]

    def _attempts(self) -> int:
        return 1 + self._retry_attempts

    def _entry_error(self, failed: dict[str, Any]) -> HokusaiError:
        where = f"SQS queue {self.queue_name!r}"
        return sqs_entry_error(where, failed.get("Code"), failed.get("Message"), bool(failed.get("SenderFault")))

    def _translate(self, exc: Exception, action: str) -> HokusaiError:
        if isinstance(exc, HokusaiError):
            return exc
        self._retry_attempts = sqs_attempts(exc, self.retry_policy.attempts) - 1
        return sqs_error(exc, f"SQS queue {self._queue_or_arg()!r}", action, self._attempts())

    def _queue_or_arg(self) -> str:
        try:
            return self._queue_setting
        except HokusaiError:
            return self.args.queue_name or ""

    # Status and connection test.

    def queue_status(self) -> QueueStatus:
        """
        Depth and in-flight count from the queue's attributes; the dead-letter depth through its redrive policy.

        Never raises for an unreachable endpoint or a bad configuration: ``reachable=False`` with the error.
        """
        start = time.perf_counter()
        try:
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "RedrivePolicy"]
            attributes = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        except Exception as exc:
            return QueueStatus(self.backend, self._queue_or_arg(), reachable=False, error=describe(exc))
        latency = elapsed_ms(start)
        dead_depth: int | None = None
        error: str | None = None
        if redrive := attributes.get("RedrivePolicy"):
            try:
                dead_depth = self._dead_letter_depth(json.loads(redrive)["deadLetterTargetArn"])
            except Exception as exc:
                error = f"dead-letter queue: {describe(exc)}"
        return QueueStatus(
            backend=self.backend,
            queue=self.queue_url,
            reachable=True,
            latency_ms=latency,
            depth=int(attributes.get("ApproximateNumberOfMessages", 0)),
            processing_depth=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            dead_letter_depth=dead_depth,
            error=error,
        )

    def _dead_letter_depth(self, arn: str) -> int:
        # arn:aws:sqs:<region>:<account>:<name>
        parts = arn.split(":")
        if len(parts) < 6:
            raise ValueError(f"unexpected deadLetterTargetArn {arn!r}")
        url = self.client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        attributes = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"].get("ApproximateNumberOfMessages", 0))

    def test_connection(self) -> tuple[bool, str]:
        """
        Query the queue itself (``GetQueueUrl`` when named, then ``GetQueueAttributes``), not only STS, so that it
        works against any SQS-compatible endpoint and proves the queue exists and is readable. Once, each call
        bounded (:func:`~airflow_provider_hokusai.queue.checks.bounded_sqs_client`).
        """
        from airflow_provider_hokusai.queue.checks import bounded_sqs_client

        try:
            names = ["ApproximateNumberOfMessages", "FifoQueue"]
            client, url = bounded_sqs_client(self.sqs_hook), self._queue_setting
            if not url.startswith(("http://", "https://")):
                url = str(client.get_queue_url(QueueName=url)["QueueUrl"])
            attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        except Exception as exc:
            return False, f"Cannot use SQS queue {self._queue_or_arg()!r}: {describe(exc)}"
        kind = "FIFO" if attributes.get("FifoQueue") == "true" else "standard"
        depth = attributes.get("ApproximateNumberOfMessages", "?")
        return True, f"SQS {kind} queue {url} reachable; {depth} message(s) waiting"


class HokusaiSqsQueueHook(SqsQueueHook):
    """
    :class:`SqsQueueHook` for a ``hokusai_sqs`` connection: the same connection, whose UI **Test** button runs
    this hook's bounded ``test_connection`` (the official type's hook tests nothing useful for a queue).
    """

    conn_type = SQS_CONN_TYPE
    hook_name = SQS_HOOK_NAME

"""
Publish ``model_ready_to_deploy`` messages to an Amazon SQS queue (standard or FIFO).

Built on the official :class:`airflow.providers.amazon.aws.hooks.sqs.SqsHook`: the ``aws`` connection, its
credentials chain, ``endpoint_url`` (any SQS-compatible endpoint) and ``config_kwargs`` all work as usual; the boto3
client is built by the official hook and cached.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, NoReturn, cast
from urllib.parse import urlsplit

from airflow.providers.amazon.aws.hooks.sqs import SqsHook

from airflow_provider_hokusai.exceptions import (
    InvalidQueueConfiguration,
    InvalidQueueMessage,
    QueueAccessDeniedError,
    QueueNotFoundError,
    QueuePermanentError,
    QueuePublishError,
)
from airflow_provider_hokusai.hooks.queue import (
    ModelReadyQueueHook,
    PublishReceipt,
    QueueStatus,
    describe_error,
    elapsed_ms,
    utc_timestamp,
)

if TYPE_CHECKING:
    from botocore.config import Config

    from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
    from airflow_provider_hokusai.retry import RetryPolicy

# SendMessageBatch takes at most 10 entries.
MAX_BATCH_ENTRIES = 10
# Timeouts unless the connection's config_kwargs set them: a publish should fail fast and let the policy retry.
DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_READ_TIMEOUT = 10
# A FIFO MessageGroupId: 1 to 128 alphanumeric or punctuation characters.
GROUP_ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")

_NOT_FOUND_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue", "QueueDeletedRecently"}
)
_ACCESS_CODES = frozenset(
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
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "KMS.ThrottlingException",
    }
)


def _connection_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return (BotoConnectionError, HTTPClientError)


class SqsQueueHook(ModelReadyQueueHook, SqsHook):
    """
    Publish ``model_ready_to_deploy`` messages to an SQS queue, given by name or URL.

    * FIFO queues (name ending in ``.fifo``) get ``MessageGroupId`` = the message's ``model_id`` (ordering per model)
      and ``MessageDeduplicationId`` = its message id, so SQS drops a copy sent within its 5-minute deduplication
      window. A standard queue is at-least-once: consumers deduplicate on the ``message_id`` attribute.
    * The body is the flat contract JSON; message attributes carry ``message_id``, ``message_type`` and
      ``message_version``.
    * The size (body plus attributes) is checked against 256 KiB (extra ``max_message_bytes``) before sending.
    * Retries: botocore's standard retry mode with ``total_max_attempts`` from the retry policy (throttling, 5xx,
      connection errors), plus the policy's bounded retry of the whole call when botocore gives up on a connection
      error. The connection's ``config_kwargs`` still apply; an explicit ``retry`` argument wins over them.

    Extra keys read by this hook besides the official ones: ``queue`` (name or URL), ``max_message_bytes``.

    :param aws_conn_id: The ``aws`` connection. (templated in the operators)
    :param queue_name: Queue name or URL; overrides the extra ``queue``.
    :param retry: Bounded in-task retries of a publish.
    :param dedup_ttl_seconds: Accepted for interface parity; SQS fixes the FIFO deduplication window at 5 minutes.
    :param max_message_bytes: Size limit; overrides the extra; default 256 KiB.
    :param region_name: AWS region; defaults to the connection's.
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Hokusai queue (Amazon SQS)"
    backend = "sqs"

    def __init__(
        self,
        aws_conn_id: str | None = default_conn_name,
        *,
        queue_name: str | None = None,
        retry: RetryPolicy | None = None,
        dedup_ttl_seconds: int | None = None,
        max_message_bytes: int | None = None,
        region_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        SqsHook.__init__(self, aws_conn_id=aws_conn_id, region_name=region_name, **kwargs)
        ModelReadyQueueHook.__init__(
            self, retry=retry, dedup_ttl_seconds=dedup_ttl_seconds, max_message_bytes=max_message_bytes
        )
        if queue_name is not None and not isinstance(queue_name, str):
            raise InvalidQueueConfiguration([("queue_name", "must be a string")])
        self._queue_arg = queue_name or None
        self._explicit_retry = retry is not None

    # Connection, client and queue: resolved on first use, then cached.

    def _extra(self) -> Mapping[str, Any]:
        return self.conn_config.extra_config

    def _get_config(self, config: Config | None = None) -> Config:
        """The official hook's botocore config with this hook's retry and timeout defaults underneath it."""
        from botocore.config import Config

        defaults = Config(
            retries=self.retry_policy.to_botocore_retries(),
            connect_timeout=DEFAULT_CONNECT_TIMEOUT,
            read_timeout=DEFAULT_READ_TIMEOUT,
        )
        merged = defaults.merge(config if config is not None else self.config)
        if self._explicit_retry:
            merged = merged.merge(Config(retries=self.retry_policy.to_botocore_retries()))
        return super()._get_config(merged)

    @cached_property
    def _queue_setting(self) -> str:
        value = self._queue_arg or self._extra().get("queue")
        if not value or not isinstance(value, str):
            raise InvalidQueueConfiguration(
                [("queue_name", "no SQS queue: pass queue_name or set the connection extra 'queue' (name or URL)")]
            )
        return value.strip()

    @property
    def queue_name(self) -> str:
        """The queue's name (the last path segment when a URL was given); no I/O."""
        setting = self._queue_setting
        if setting.startswith(("http://", "https://")):
            return urlsplit(setting).path.rstrip("/").rsplit("/", 1)[-1]
        return setting

    @property
    def is_fifo(self) -> bool:
        return self.queue_name.endswith(".fifo")

    @cached_property
    def queue_url(self) -> str:
        """The queue's URL: as given, or looked up once by name (``GetQueueUrl``)."""
        setting = self._queue_setting
        if setting.startswith(("http://", "https://")):
            return setting
        try:
            url: str = self._call(lambda: self.get_conn().get_queue_url(QueueName=setting))["QueueUrl"]
        except Exception as exc:
            error = self._translate(exc, "look up", 1)
            if error is None or error is exc:
                raise
            raise error from exc
        return url

    # Publishing.

    def _message_size(self, message: ModelReadyToDeployMessage, body: str) -> int:
        # SQS counts the attributes' names, types and values against the limit as well as the body.
        attributes = sum(len(k) + len("String") + len(v.encode()) for k, v in self._message_attributes(message).items())
        return len(body.encode()) + attributes

    def _serialize(self, message: object, field: str = "message") -> str:
        body = super()._serialize(message, field)
        if self.is_fifo:
            model_id = cast("ModelReadyToDeployMessage", message).model_id
            if not GROUP_ID_PATTERN.match(model_id):
                raise InvalidQueueMessage(
                    [
                        (
                            f"{field}.model_id" if field != "message" else "model_id",
                            "must be 1-128 letters, digits or punctuation (no spaces) to be an SQS FIFO MessageGroupId",
                        )
                    ]
                )
        return body

    def _send_params(self, message: ModelReadyToDeployMessage, body: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "MessageBody": body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in self._message_attributes(message).items()
            },
        }
        if self.is_fifo:
            params["MessageGroupId"] = message.model_id
            params["MessageDeduplicationId"] = self._message_id(message)
        return params

    def _call(self, fn: Any, on_retry: Any = None) -> Any:
        """``fn()`` under the policy's bounded retry of connection errors that botocore already gave up on."""
        return self.retry_policy.call(fn, retry_on=_connection_errors(), on_retry=on_retry)

    def _publish_body(self, message: ModelReadyToDeployMessage, body: str) -> PublishReceipt:
        start = time.perf_counter()
        params = self._send_params(message, body)
        failures = 0

        def on_retry(error: BaseException, failed: int) -> None:
            nonlocal failures
            failures = failed
            self._record_retry(error, failed)

        try:
            client = self.get_conn()
            queue_url = self.queue_url
            response = self._call(lambda: client.send_message(QueueUrl=queue_url, **params), on_retry)
        except Exception as exc:
            self._fail(exc, 1, failures + 1)
        receipt = PublishReceipt(
            message_id=self._message_id(message),
            backend=self.backend,
            queue=queue_url,
            broker_message_id=response.get("MessageId"),
            # SQS accepts a FIFO duplicate like any message (and drops it); it does not tell the sender.
            duplicate=False,
            attempts=failures + 1 + int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)),
            duration_ms=elapsed_ms(start),
            published_at=utc_timestamp(),
        )
        self._record((receipt,), receipt.duration_ms)
        self.log.debug("Published message %s to SQS queue %s", receipt.message_id, queue_url)
        return receipt

    def _publish_bodies(
        self, messages: Sequence[ModelReadyToDeployMessage], bodies: Sequence[str]
    ) -> list[PublishReceipt]:
        start = time.perf_counter()
        try:
            client = self.get_conn()
            queue_url = self.queue_url
        except Exception as exc:
            self._fail(exc, len(bodies), 1)
        limit = self.max_message_bytes
        entries = [self._send_params(m, b) for m, b in zip(messages, bodies, strict=True)]
        sizes = [self._message_size(m, b) for m, b in zip(messages, bodies, strict=True)]
        broker_ids: list[str | None] = [None] * len(entries)
        attempts = [1] * len(entries)
        # Batches of at most 10 entries whose sizes add up to at most the limit (SQS's batch rule).
        batches: list[list[int]] = []
        for index, size in enumerate(sizes):
            if (
                not batches
                or len(batches[-1]) == MAX_BATCH_ENTRIES
                or sum(sizes[i] for i in batches[-1]) + size > limit
            ):
                batches.append([])
            batches[-1].append(index)
        for batch in batches:
            pending = list(batch)

            failures = 0
            while pending:
                request = {"QueueUrl": queue_url, "Entries": [{"Id": f"m{i}", **entries[i]} for i in pending]}
                try:
                    response = self._call(partial(client.send_message_batch, **request), self._record_retry)
                except Exception as exc:
                    self._fail(exc, len(pending), failures + 1)
                for ok in response.get("Successful", []):
                    broker_ids[int(ok["Id"][1:])] = ok.get("MessageId")
                failed = response.get("Failed", [])
                permanent = [f for f in failed if f.get("SenderFault")]
                if permanent:
                    self._record_failure(len(permanent), permanent=True)
                    first = permanent[0]
                    raise QueuePermanentError(
                        f"SQS queue {queue_url} refused {len(permanent)} message(s) of the batch: "
                        f"{first.get('Code')}: {first.get('Message')}"
                    )
                pending = [int(f["Id"][1:]) for f in failed]
                if pending:
                    failures += 1
                    for i in pending:
                        attempts[i] += 1
                    if failures >= self.retry_policy.attempts:
                        self._record_failure(len(pending), permanent=False)
                        raise QueuePublishError(
                            f"SQS queue {queue_url} did not take {len(pending)} message(s) after "
                            f"{self.retry_policy.attempts} attempt(s): {failed[0].get('Code')}; a retry is safe"
                        )
                    time.sleep(self.retry_policy.delay(failures))
        duration = elapsed_ms(start)
        published_at = utc_timestamp()
        receipts = [
            PublishReceipt(
                message_id=self._message_id(message),
                backend=self.backend,
                queue=queue_url,
                broker_message_id=broker_ids[i],
                duplicate=False,
                attempts=attempts[i],
                duration_ms=duration,
                published_at=published_at,
            )
            for i, message in enumerate(messages)
        ]
        self._record(receipts, duration)
        self.log.info("Published %s message(s) to SQS queue %s", len(receipts), queue_url)
        return receipts

    def _fail(self, exc: Exception, count: int, attempts: int) -> NoReturn:
        """Count the failed publish of ``count`` message(s) and raise its typed error."""
        error = self._translate(exc, "publish to", attempts)
        if error is None:
            self._record_failure(count, permanent=False)
            raise exc
        self._record_failure(count, permanent=isinstance(error, QueuePermanentError))
        if error is exc:
            raise exc
        raise error from exc

    def _translate(self, exc: Exception, action: str, attempts: int) -> Exception | None:
        """The typed error for a failed call (None when it is not the broker's); botocore's texts hold no secret."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            ParamValidationError,
            PartialCredentialsError,
        )

        if isinstance(exc, QueuePermanentError | QueuePublishError):
            return exc
        where = f"SQS queue {self._queue_setting_or_arg()!r}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in _NOT_FOUND_CODES:
                return QueueNotFoundError(f"{where} does not exist: {describe_error(exc)}")
            if code in _ACCESS_CODES or status == 403:
                return QueueAccessDeniedError(f"{where}: access denied: {describe_error(exc)}")
            if code in _TRANSIENT_CODES or status >= 500:
                return QueuePublishError(
                    f"could not {action} {where} after {attempts} attempt(s): {describe_error(exc)}; a retry is safe"
                )
            return QueuePermanentError(f"{where} refused the request: {describe_error(exc)}")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return QueueAccessDeniedError(f"{where}: {describe_error(exc)}")
        if isinstance(exc, ParamValidationError):
            return QueuePermanentError(f"{where} refused the request: {describe_error(exc)}")
        if isinstance(exc, BotoCoreError):
            return QueuePublishError(
                f"could not {action} {where} after {attempts} attempt(s): {describe_error(exc)}; a retry is safe"
            )
        return None

    def _queue_setting_or_arg(self) -> str:
        try:
            return self._queue_setting
        except Exception:
            return self._queue_arg or ""

    # Status and connection test.

    def queue_status(self) -> QueueStatus:
        """
        Depth and in-flight count from the queue's attributes; the dead-letter depth through its redrive policy.

        Never raises for an unreachable endpoint or a bad configuration: ``reachable=False`` with the error.
        """
        start = time.perf_counter()
        try:
            client = self.get_conn()
            queue_url = self.queue_url
            attributes = client.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "RedrivePolicy",
                ],
            )["Attributes"]
        except Exception as exc:
            return QueueStatus(
                backend=self.backend,
                queue=self._queue_setting_or_arg(),
                reachable=False,
                error=describe_error(exc),
            )
        latency = elapsed_ms(start)
        dead_depth: int | None = None
        error: str | None = None
        redrive = attributes.get("RedrivePolicy")
        if redrive:
            try:
                dead_depth = self._dead_letter_depth(json.loads(redrive)["deadLetterTargetArn"])
            except Exception as exc:
                error = f"dead-letter queue: {describe_error(exc)}"
        return QueueStatus(
            backend=self.backend,
            queue=queue_url,
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
        client = self.get_conn()
        url = self._dead_letter_urls.get(arn)
        if url is None:
            url = client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            self._dead_letter_urls[arn] = url
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"].get("ApproximateNumberOfMessages", 0))

    @cached_property
    def _dead_letter_urls(self) -> dict[str, str]:
        return {}

    def test_connection(self) -> tuple[bool, str]:
        """
        Query the queue itself (``GetQueueUrl`` when named, then ``GetQueueAttributes``), not only STS, so that it
        works against any SQS-compatible endpoint and proves the queue exists and is readable.
        """
        try:
            queue_url = self.queue_url
            attributes = self.get_conn().get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "FifoQueue"]
            )["Attributes"]
        except Exception as exc:
            return False, f"Cannot use SQS queue {self._queue_setting_or_arg()!r}: {describe_error(exc)}"
        kind = "FIFO" if attributes.get("FifoQueue") == "true" else "standard"
        depth = attributes.get("ApproximateNumberOfMessages", "?")
        return True, f"SQS {kind} queue {queue_url} reachable; {depth} message(s) waiting"

"""
Bad-input sweep of the publish path: every contract rule broken one at a time, non-finite metrics, zero and
negative baselines, oversized messages, unknown or wrong connections and an unreachable MLflow. Each gives its
typed error from :mod:`airflow_provider_hokusai.exceptions` and publishes nothing: the real queue (redis-server,
moto SQS) is checked empty afterwards. Last, no credential of any connection appears in the captured logs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import (
    AnnouncementRefusedError,
    HokusaiError,
    HokusaiPermanentError,
    HokusaiRetryableError,
    InvalidConfigurationError,
    InvalidModelReadyMessage,
    InvalidQueueMessage,
    QueuePermanentError,
    RegistryUnavailableError,
)
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator
from airflow_provider_hokusai.queue.redis_client import close_shared_pools
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from tests.fixtures.mlflow import MLflowServer, RecordingTI, registered_version
from tests.fixtures.mlflow import validated_tags as shared_validated_tags
from tests.fixtures.ports import free_port
from tests.fixtures.redis import RedisProcess
from tests.fixtures.sqs import SECRET_KEY, SqsQueues

pytestmark = pytest.mark.integration

REDIS_LIST = "hokusai:model_ready_queue"


def validated_tags(**overrides: str | None) -> dict[str, str]:
    return shared_validated_tags(**{t.TOKEN_ID: "HKBAD", **overrides})


def new_version(server: MLflowServer, version_tags: dict[str, str]) -> tuple[str, str]:
    name, version, _ = registered_version(server.url, version_tags, "hokusai-bad")
    return name, version


def publish(name: str, version: str, conn_id: str, **kwargs: Any) -> dict[str, Any]:
    op = PublishModelReadyOperator(
        task_id="announce", model_name=name, model_version=version, queue_conn_id=conn_id, **kwargs
    )
    return op.execute({"ti": RecordingTI()})  # type: ignore[arg-type]


def redis_is_empty(server: RedisProcess) -> bool:
    # No message and no dedup marker: nothing was claimed either.
    return bool(server.client().dbsize() == 0)


def sqs_is_empty(queues: SqsQueues, url: str) -> bool:
    attributes = queues.server.client().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


# Every rule of the contract reachable from the registry's evidence or the operator's arguments.

LONG = "x" * 600
EVIDENCE_CASES = [
    # (id, version tag overrides, operator kwargs, error, field named)
    ("not-validated", {t.STATUS: "candidate"}, {}, AnnouncementRefusedError, None),
    ("no-token", {t.TOKEN_ID: ""}, {}, AnnouncementRefusedError, None),
    ("no-metric-name", {t.BENCHMARK_METRIC: ""}, {}, AnnouncementRefusedError, None),
    ("no-baseline", {t.BENCHMARK_VALUE: ""}, {}, AnnouncementRefusedError, None),
    ("token-pattern", {t.TOKEN_ID: "HK BAD!"}, {}, InvalidModelReadyMessage, "token_symbol"),
    ("token-too-long", {t.TOKEN_ID: "ABCDEFGHIJK"}, {}, InvalidModelReadyMessage, "token_symbol"),
    ("metric-name-too-long", {t.BENCHMARK_METRIC: LONG}, {}, InvalidModelReadyMessage, "metric_name"),
    ("baseline-zero", {t.BENCHMARK_VALUE: "0"}, {}, InvalidModelReadyMessage, "baseline_value"),
    ("baseline-negative", {t.BENCHMARK_VALUE: "-0.5"}, {}, InvalidModelReadyMessage, "baseline_value"),
    ("baseline-nan", {t.BENCHMARK_VALUE: "nan"}, {}, InvalidModelReadyMessage, "baseline_value"),
    ("baseline-inf", {t.BENCHMARK_VALUE: "inf"}, {}, InvalidModelReadyMessage, "baseline_value"),
    ("baseline-text", {t.BENCHMARK_VALUE: "ninety"}, {}, InvalidModelReadyMessage, "baseline_value"),
    ("current-nan", {t.CURRENT_VALUE: "nan"}, {}, InvalidModelReadyMessage, "current_value"),
    ("current-inf", {t.CURRENT_VALUE: "inf"}, {}, InvalidModelReadyMessage, "current_value"),
    ("current-minus-inf", {t.CURRENT_VALUE: "-inf"}, {}, InvalidModelReadyMessage, "current_value"),
    ("current-negative", {t.CURRENT_VALUE: "-0.95"}, {}, InvalidModelReadyMessage, "current_value"),
    ("does-not-beat", {t.CURRENT_VALUE: "0.85"}, {}, InvalidModelReadyMessage, "improvement_percentage"),
    ("equal-is-not-better", {t.CURRENT_VALUE: "0.9"}, {}, InvalidModelReadyMessage, "improvement_percentage"),
    ("bad-direction", {t.DIRECTION: "sideways"}, {}, InvalidModelReadyMessage, "direction"),
    ("model-id-too-long", {}, {"model_id": LONG}, InvalidModelReadyMessage, "model_id"),
    ("contributor", {}, {"contributor_address": "0x123"}, InvalidModelReadyMessage, "contributor_address"),
    ("contributor-tag", {t.CONTRIBUTOR_ADDRESS: "0xZZ"}, {}, InvalidModelReadyMessage, "contributor_address"),
    ("experiment-too-long", {t.EXPERIMENT_NAME: LONG}, {}, InvalidModelReadyMessage, "experiment_name"),
    ("too-many-tags", {}, {"extra_tags": {f"k{i}": "v" for i in range(60)}}, InvalidModelReadyMessage, "tags"),
    ("tag-key-too-long", {}, {"extra_tags": {"k" * 200: "v"}}, InvalidModelReadyMessage, "tags"),
    ("tag-value-too-long", {}, {"extra_tags": {"k": "v" * 2000}}, InvalidModelReadyMessage, "tags"),
    (
        "forged-message-id",
        {},
        {"extra_tags": {"message_id": "not-the-id"}},
        InvalidModelReadyMessage,
        "tags.message_id",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "kwargs", "error", "field"),
    [pytest.param(o, k, e, f, id=i) for i, o, k, e, f in EVIDENCE_CASES],
)
def test_each_broken_rule_is_typed_and_publishes_nothing(
    mlflow_conn: MLflowServer,
    redis_queue_conn: str,
    redis_server: RedisProcess,
    overrides: dict[str, str],
    kwargs: dict[str, Any],
    error: type[HokusaiError],
    field: str | None,
) -> None:
    name, version = new_version(mlflow_conn, validated_tags(**overrides))

    with pytest.raises(error) as raised:
        publish(name, version, redis_queue_conn, **kwargs)

    assert isinstance(raised.value, HokusaiPermanentError)  # Airflow fails the task without burning retries
    if field == "tags.message_id":
        # Reported on the tags field, and the rule names the tag.
        assert raised.value.fields == ["tags"] and field in str(raised.value)
    elif field is not None:
        assert any(f == field or f.startswith(f"{field}.") for f in raised.value.fields), raised.value.fields
    assert redis_is_empty(redis_server)
    recorded = MLflowHook().get_model_version(name, version).tags
    assert recorded[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_FAILED


def wire_payload() -> dict[str, Any]:
    return build_model_ready_message(
        model_name="m", model_version="1", mlflow_run_id="r", token_symbol="HK", metric_name="accuracy",
        current_value=0.95, baseline_value=0.9,
    ).to_dict()  # fmt: skip


# The rules no registry evidence can break (the builder sets these fields itself), on the consumer's side.
WIRE_CASES = [
    ("timestamp", {"timestamp": "2026-01-01 00:00:00"}),
    ("timestamp", {"timestamp": "2026-13-45T00:00:00Z"}),
    ("message_version", {"message_version": "2.0"}),
    ("model_version", {"model_version": ""}),
    ("model_version", {"model_version": "9" * 65}),
    ("model_name", {"model_name": ""}),
    ("mlflow_run_id", {"mlflow_run_id": ""}),
    ("improvement_percentage", {"improvement_percentage": 0.0}),
    ("experiment_name", {"experiment_name": None}),
    ("surprise", {"surprise": "unknown key"}),
    ("baseline_value", {"baseline_value": "0.9"}),
]


@pytest.mark.parametrize(("field", "change"), WIRE_CASES)
def test_wire_rules_refused_and_the_hook_publishes_no_raw_payload(
    redis_queue_conn: str, redis_server: RedisProcess, field: str, change: dict[str, Any]
) -> None:
    payload = {**wire_payload(), **change}

    with pytest.raises(InvalidModelReadyMessage) as raised:
        ModelReadyToDeployMessage.from_json(json.dumps(payload))
    assert field in raised.value.fields
    # A hook only publishes rendered, validated messages; a raw payload is refused before any I/O.
    with pytest.raises(InvalidQueueMessage):
        get_queue_hook(redis_queue_conn).publish(payload)  # type: ignore[arg-type]
    assert redis_is_empty(redis_server)


def test_oversized_message_is_refused_on_both_backends(
    mlflow_conn: MLflowServer,
    redis_server: RedisProcess,
    sqs_queues: SqsQueues,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_SMALL_REDIS", redis_server.conn_json(max_message_bytes=2000))
    redis_server.client().flushall()
    big = {f"k{i}": "v" * 1000 for i in range(3)}
    name, version = new_version(mlflow_conn, validated_tags())
    try:
        with pytest.raises(InvalidQueueMessage):
            publish(name, version, "hokusai_small_redis", extra_tags=big)
    finally:
        close_shared_pools()
    assert redis_is_empty(redis_server)

    # SQS's own limit is 256 KiB: 50 tags of 1 KiB stay under it, so the connection lowers it as Redis's did.
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_SMALL_SQS", sqs_queues.server.conn_json(max_message_bytes=2000))
    with pytest.raises(InvalidQueueMessage):
        publish(name, version, "hokusai_small_sqs", queue_name=sqs_queues.fifo_url, extra_tags=big)
    assert sqs_is_empty(sqs_queues, sqs_queues.fifo_url)


def test_connections_unknown_wrong_type_missing_queue_and_unreachable_mlflow(
    mlflow_conn: MLflowServer,
    redis_queue_conn: str,
    redis_server: RedisProcess,
    sqs_queues: SqsQueues,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, version = new_version(mlflow_conn, validated_tags())

    with pytest.raises(InvalidConfigurationError) as unknown:
        publish(name, version, "no_such_queue_connection")
    assert unknown.value.fields == ["queue_conn_id"]

    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_HTTP", json.dumps({"conn_type": "http", "host": "127.0.0.1"}))
    with pytest.raises(InvalidConfigurationError):
        publish(name, version, "hokusai_http")

    with pytest.raises(InvalidConfigurationError) as no_mlflow:
        publish(name, version, redis_queue_conn, mlflow_conn_id="no_such_mlflow_connection")
    assert no_mlflow.value.fields == ["mlflow_conn_id"]

    with pytest.raises(QueuePermanentError):
        publish(name, version, sqs_queues.conn_id, queue_name="no-such-queue")

    # A registry nobody listens on; MLflow's own HTTP retries are cut short so the test does not wait minutes.
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_DOWN_MLFLOW", f"mlflow://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    with pytest.raises(RegistryUnavailableError) as down:
        publish(name, version, redis_queue_conn, mlflow_conn_id="hokusai_down_mlflow")
    assert isinstance(down.value, HokusaiRetryableError)  # Airflow's retries take over

    assert redis_is_empty(redis_server)
    assert sqs_is_empty(sqs_queues, sqs_queues.fifo_url) and sqs_is_empty(sqs_queues, sqs_queues.standard_url)
    assert receipt_from_tags(MLflowHook().get_model_version(name, version).tags) is None


REDIS_PASSWORD = "redis-Pw-4f1c9e"
MLFLOW_PASSWORD = "mlflow-Pw-8d2b7a"
MLFLOW_TOKEN = "mlflow-Token-1e6c3f"


def test_no_credential_appears_in_logs_of_publishes_and_failures(
    mlflow_server: MLflowServer,
    redis_process_factory: Any,
    sqs_queues: SqsQueues,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    secured = redis_process_factory(password=REDIS_PASSWORD)
    host = f"127.0.0.1:{mlflow_server.port}"
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", f"mlflow://hokusai-user:{MLFLOW_PASSWORD}@{host}")
    token_conn = {"conn_type": "mlflow", "host": "127.0.0.1", "port": mlflow_server.port, "password": MLFLOW_TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_TOKEN", json.dumps(token_conn))
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_SECURE_REDIS", secured.conn_json())
    wrong = json.loads(secured.conn_json())
    wrong["password"] = REDIS_PASSWORD + "-wrong"
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_WRONG_REDIS", json.dumps(wrong))
    monkeypatch.setenv(
        "AIRFLOW_CONN_HOKUSAI_DOWN_MLFLOW", f"mlflow://hokusai-user:{MLFLOW_PASSWORD}@127.0.0.1:{free_port()}"
    )
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    errors: list[str] = []
    try:
        # Successful publishes on both backends, with both MLflow credential styles.
        name, version = new_version(mlflow_server, validated_tags())
        assert publish(name, version, "hokusai_secure_redis")["outcome"] == "published"
        name, version = new_version(mlflow_server, validated_tags())
        result = publish(
            name, version, sqs_queues.conn_id, queue_name=sqs_queues.fifo_url, mlflow_conn_id="mlflow_token"
        )
        assert result["outcome"] == "published"
        # Failures: wrong Redis password, missing SQS queue, unreachable MLflow with credentials.
        name, version = new_version(mlflow_server, validated_tags())
        for conn_id, kwargs, error in (
            ("hokusai_wrong_redis", {}, QueuePermanentError),
            (sqs_queues.conn_id, {"queue_name": "no-such-queue"}, QueuePermanentError),
            ("hokusai_secure_redis", {"mlflow_conn_id": "hokusai_down_mlflow"}, RegistryUnavailableError),
        ):
            with pytest.raises(error) as raised:
                publish(name, version, conn_id, **kwargs)
            errors.append(repr(raised.value))
        recorded = json.dumps(MLflowHook().get_model_version(name, version).tags)
    finally:
        close_shared_pools()

    out, err = capfd.readouterr()
    everything = "\n".join([caplog.text, out, err, recorded, *errors])
    # The capture must hold the publishes' own log lines, or an empty capture would pass.
    assert "Announced" in everything and len(errors) == 3
    for secret in (REDIS_PASSWORD, MLFLOW_PASSWORD, MLFLOW_TOKEN, SECRET_KEY):
        assert secret not in everything, f"a credential leaked into the logs or errors: {secret[:6]}..."

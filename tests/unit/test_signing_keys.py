"""Signing keys from Airflow connections, the publish path's signing (no broker needed) and the consumer's check."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import (
    HokusaiPermanentError,
    InvalidConfigurationError,
    InvalidMessageSignature,
)
from airflow_provider_hokusai.hooks.redis import RedisQueueHook
from airflow_provider_hokusai.hooks.sqs import SqsQueueHook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from airflow_provider_hokusai.queue.signer import (
    QueueSigner,
    load_signing_key,
    queue_signing_key,
    queue_verification_keys,
    signing_extra,
)
from airflow_provider_hokusai.signing import verify_model_ready
from hokusai_examples.consumer import plan_deployments

NEW_SECRET = "new/secret+value-never-in-a-log-0123456789=="
OLD_SECRET = "old-secret-value-never-in-any-log-9876543210"


def message(version: int = 1) -> ModelReadyToDeployMessage:
    return build_model_ready_message(
        model_name="m",
        model_version=version,
        mlflow_run_id="r",
        token_symbol="tok",
        metric_name="accuracy",
        current_value=0.95,
        baseline_value=0.9,
        timestamp="2026-06-01T12:00:00Z",
    )


def conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    conn(monkeypatch, "sign_new", conn_type="generic", login="2026-06", password=NEW_SECRET)
    conn(monkeypatch, "sign_old", conn_type="generic", password=OLD_SECRET)
    signing = {"signing_conn_ids": ["sign_new", "sign_old"]}
    conn(monkeypatch, "q_redis", conn_type="redis", host="h", extra=signing)
    conn(monkeypatch, "q_sqs", conn_type="aws", extra={"region_name": "us-east-1", **signing})


def test_a_key_is_a_connection_password_with_its_login_or_id_as_key_id(keys: None) -> None:
    new, old = load_signing_key("sign_new"), load_signing_key("sign_old")
    assert (new.key_id, new.secret.get_secret_value()) == ("2026-06", NEW_SECRET)
    assert old.key_id == "sign_old"


def test_keys_are_registered_with_the_secrets_masker(keys: None, caplog: pytest.LogCaptureFixture) -> None:
    from airflow.sdk.log import redact

    load_signing_key("sign_new")
    assert NEW_SECRET not in str(redact(f"oops {NEW_SECRET}"))
    assert "new%2Fsecret" not in str(redact("url form new%2Fsecret%2Bvalue-never-in-a-log-0123456789%3D%3D"))


def test_producers_read_only_the_newest_key_verifiers_read_all(keys: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SIGN_OLD")  # retired on the producers' side
    key = queue_signing_key("q_redis")
    assert key is not None and key.key_id == "2026-06"
    with pytest.raises(InvalidConfigurationError) as info:
        queue_verification_keys("q_redis")
    assert info.value.fields == ["extra.signing_conn_ids[1]"]


def test_unsigned_queues_and_missing_queue_connections_sign_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    conn(monkeypatch, "plain", conn_type="redis", host="h")
    assert (
        queue_signing_key("plain") is None and queue_signing_key("absent") is None and queue_signing_key(None) is None
    )
    assert queue_verification_keys("plain") == ([], False)


def test_extras_accept_a_comma_separated_string_and_name_bad_values() -> None:
    assert signing_extra({"signing_conn_ids": " a, b ,"}).signing_conn_ids == ("a", "b")
    with pytest.raises(InvalidConfigurationError) as info:
        signing_extra({"signing_conn_ids": [""], "signature_required": "maybe"})
    assert sorted(info.value.fields) == ["extra.signature_required", "extra.signing_conn_ids.0"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"conn_type": "generic"}, "extra.signing_conn_ids[0]"),
        ({"conn_type": "generic", "password": "short-but-secret"}, "extra.signing_conn_ids[0] (sign_new).secret"),
        (
            {"conn_type": "generic", "login": "no spaces", "password": NEW_SECRET},
            "extra.signing_conn_ids[0] (sign_new).key_id",
        ),
        (None, "extra.signing_conn_ids[0]"),
    ],
)
def test_unusable_key_fails_the_publish_before_anything_is_sent(
    keys: None, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any] | None, field: str
) -> None:
    if fields is None:
        monkeypatch.delenv("AIRFLOW_CONN_SIGN_NEW")
    else:
        conn(monkeypatch, "sign_new", **fields)
    hook = RedisQueueHook(redis_conn_id="q_redis")
    sent: list[Any] = []
    monkeypatch.setattr(hook, "_send", lambda *args: sent.append(args))
    with pytest.raises(InvalidConfigurationError) as info:
        hook.publish(message())
    assert info.value.fields == [field]
    assert isinstance(info.value, HokusaiPermanentError)
    assert sent == []
    for secret in (NEW_SECRET, "short-but-secret"):
        assert secret not in str(info.value)


def test_the_publish_path_signs_the_body_and_the_sqs_attributes(keys: None) -> None:
    redis_body = RedisQueueHook(redis_conn_id="q_redis")._serialize(message(), "message")
    sqs = SqsQueueHook(aws_conn_id="q_sqs", queue_name="q.fifo")
    sqs_body = sqs._serialize(message(), "message")
    assert redis_body == sqs_body
    verified = verify_model_ready(redis_body, {"2026-06": NEW_SECRET})
    assert verified.tags is not None and verified.tags["key_id"] == "2026-06"
    attributes = sqs._entry(0, message(), sqs_body)["MessageAttributes"]
    assert attributes["signature"]["StringValue"] == verified.tags["signature"]
    assert attributes["key_id"]["StringValue"] == "2026-06"
    # The attributes are counted: the size is the body plus five attributes.
    extra = sum(len(k) + len("String") + len(v["StringValue"]) for k, v in attributes.items())
    assert sqs._message_size(message(), sqs_body) == len(sqs_body.encode()) + extra


def test_unsigned_queue_publishes_the_plain_contract_body(monkeypatch: pytest.MonkeyPatch) -> None:
    conn(monkeypatch, "plain", conn_type="redis", host="h")
    assert RedisQueueHook(redis_conn_id="plain")._serialize(message(), "message") == message().to_json()


def test_the_signer_reads_the_key_once_and_signs_each_message_once(keys: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_provider_hokusai.queue.signer as module

    calls: list[str] = []
    real = module.signature_tags
    monkeypatch.setattr(module, "signature_tags", lambda m, k: calls.append(m.model_version) or real(m, k))
    signer = QueueSigner("q_redis")
    first, second = message(1), message(2)
    assert signer.tags(first) == signer.tags(first) and signer.tags(second)
    assert calls == ["1", "2"]
    assert signer.signed(first).tags == {**(first.tags or {}), **signer.tags(first)}


def test_no_secret_reaches_a_log_line(keys: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hook = RedisQueueHook(redis_conn_id="q_redis")
    hook._serialize(message(), "message")
    assert NEW_SECRET not in caplog.text and OLD_SECRET not in caplog.text


# The example consumer.


def test_consumer_rejects_forged_and_unsigned_bodies_one_by_one(keys: None) -> None:
    hook = RedisQueueHook(redis_conn_id="q_redis")
    good = [hook._serialize(message(v), "message") for v in (1, 2)]
    forged = (
        good[1]
        .replace('"current_value":0.95', '"current_value":0.99')
        .replace('"model_version":"2"', '"model_version":"3"')
    )
    verification, required = queue_verification_keys("q_redis")
    assert required is True
    plan = plan_deployments([good[0], forged, message(4).to_json(), good[1]], keys=verification)
    assert [(m.model_id, m.model_version) for m in plan.deploy] == [("m", "2")]
    assert [r["error"] for r in plan.rejected] == [InvalidMessageSignature.__name__, InvalidMessageSignature.__name__]
    assert all(NEW_SECRET not in r["reason"] and OLD_SECRET not in r["reason"] for r in plan.rejected)
    # Switching over: unsigned bodies pass, forged ones still do not.
    relaxed = plan_deployments([forged, message(4).to_json()], keys=verification, require_signature=False)
    assert [m.model_version for m in relaxed.deploy] == ["4"] and len(relaxed.rejected) == 1

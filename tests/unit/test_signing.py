"""The pure signing module: canonical form, signatures, verification, typed errors, and tampering refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hokusai.exceptions import (
    InvalidConfigurationError,
    InvalidMessageSignature,
    InvalidModelReadyMessage,
)
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from airflow_provider_hokusai.signing import (
    SigningKey,
    canonical_bytes,
    ecmascript_number,
    keyring,
    sign_model_ready,
    signature_tags,
    signing_key,
    verify_model_ready,
)

SECRET = "s3cret-value-that-must-never-be-logged-0123456789"
OTHER_SECRET = "another-secret-value-never-to-be-logged-98765"
KEY = signing_key("k-2026-06", SECRET)
OLD_KEY = signing_key("k-2026-01", OTHER_SECRET)


def message(version: int = 3, **overrides: Any) -> ModelReadyToDeployMessage:
    fields: dict[str, Any] = {
        "model_name": "churn-classifier",
        "model_version": version,
        "mlflow_run_id": "run-1",
        "token_symbol": "CHURN",
        "metric_name": "accuracy",
        "current_value": 0.972,
        "baseline_value": 0.9,
        "experiment_name": "churn",
        "tags": {"pipeline": "release"},
        "timestamp": "2026-06-01T12:03:41.512345Z",
        **overrides,
    }
    return build_model_ready_message(**fields)


SIGNED = sign_model_ready(message(), KEY).to_json()


def assert_no_secret(exc: BaseException) -> None:
    for secret in (SECRET, OTHER_SECRET):
        assert secret not in str(exc) and secret not in repr(exc)


# Canonical form.


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (0.972, "0.972"),
        (7.999999999999995, "7.999999999999995"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (1.5e-5, "0.000015"),
        (1e16, "10000000000000000"),
        (1e21, "1e+21"),
        (123e-20, "1.23e-18"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-0.0, "0"),
        (-2.5, "-2.5"),
        (12, "12"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(value: float, text: str) -> None:
    assert ecmascript_number(value) == text


def test_canonical_form_sorts_keys_everywhere_drops_only_the_signature_and_has_no_whitespace() -> None:
    payload = {"b": 1.0, "a": 'é\n\x01"', "tags": {"z": "1", "key_id": "k", "signature": "v1,x", "10": "", "9": ""}}
    assert canonical_bytes(payload) == (
        '{"a":"é\\n\\u0001\\"","b":1,"tags":{"10":"","9":"","key_id":"k","z":"1"}}'.encode()
    )


def test_canonical_keys_sort_by_utf16_code_units() -> None:
    # U+FF01 is below U+1F600 by code point, above its first UTF-16 code unit (0xD83D): JavaScript puts it second.
    assert canonical_bytes({"\uff01": 2, "\U0001f600": 1}) == '{"\U0001f600":1,"\uff01":2}'.encode()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"x": float("nan")}, "x"),
        ({"x": "\ud800"}, "x"),
        ({"tags": {"\udfff": "v"}}, "tags"),
        ({"x": {1, 2}}, "x"),
        ({"x": 10**400}, "x"),
    ],
)
def test_values_with_no_canonical_form_name_their_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidModelReadyMessage) as info:
        canonical_bytes(payload)
    assert info.value.fields == [field]


# Signing.


def test_signed_body_is_a_valid_contract_message_carrying_key_id_and_signature() -> None:
    signed = ModelReadyToDeployMessage.from_json(SIGNED)
    assert signed.tags is not None
    assert list(signed.tags) == ["pipeline", "message_id", "key_id", "signature"]
    assert signed.tags["key_id"] == "k-2026-06"
    prefix, _, mac = signed.tags["signature"].partition(",")
    assert prefix == "v1" and len(base64.b64decode(mac, validate=True)) == 32
    assert signed.to_json() == SIGNED


def test_signing_is_deterministic_and_replaces_an_older_signature() -> None:
    assert sign_model_ready(message(), KEY).to_json() == SIGNED
    resigned = sign_model_ready(sign_model_ready(message(), OLD_KEY), KEY)
    assert resigned.to_json() == SIGNED
    # A new timestamp (a re-announcement) is a new signature for the same message id.
    later = sign_model_ready(message(timestamp="2026-06-01T13:00:00Z"), KEY)
    assert later.message_id == message().message_id and later.tags != json.loads(SIGNED)["tags"]


def test_a_message_with_no_room_for_two_more_tags_cannot_be_signed() -> None:
    full = message(tags={f"t{i}": "v" for i in range(49)})
    with pytest.raises(InvalidModelReadyMessage) as info:
        signature_tags(full, KEY)
    assert info.value.fields == ["tags"]
    assert sign_model_ready(message(tags={f"t{i}": "v" for i in range(47)}), KEY).tags is not None


# Keys.


@pytest.mark.parametrize(
    ("key_id", "secret", "field"),
    [
        ("k", "short-secret", "secret"),
        ("k", "", "secret"),
        ("bad id!", SECRET, "key_id"),
        ("", SECRET, "key_id"),
        ("k" * 65, SECRET, "key_id"),
        ("k", "\ud800" * 40, "secret"),
    ],
)
def test_unusable_keys_are_typed_errors_naming_the_field_never_the_secret(key_id: str, secret: str, field: str) -> None:
    with pytest.raises(InvalidConfigurationError) as info:
        signing_key(key_id, secret)
    assert info.value.fields == [field]
    if secret:
        assert secret not in str(info.value)


def test_a_key_never_prints_its_secret() -> None:
    assert SECRET not in repr(KEY) and SECRET not in str(KEY) and SECRET not in KEY.model_dump_json()


def test_keyring_refuses_nothing_foreign_and_conflicting_ids() -> None:
    assert set(keyring({"a-1": SECRET, "b-2": OTHER_SECRET})) == {"a-1", "b-2"}
    with pytest.raises(InvalidConfigurationError):
        keyring([])
    with pytest.raises(InvalidConfigurationError) as info:
        keyring([KEY, signing_key(KEY.key_id, OTHER_SECRET)])
    assert info.value.fields == ["keys[1].key_id"]
    assert_no_secret(info.value)
    with pytest.raises(InvalidConfigurationError) as foreign:
        keyring(["k"])  # type: ignore[list-item]
    assert foreign.value.fields == ["keys[0]"]


# Verification.


def test_verify_returns_the_message_with_any_configured_key() -> None:
    verified = verify_model_ready(SIGNED, [OLD_KEY, KEY])
    assert verified == ModelReadyToDeployMessage.from_json(SIGNED)
    assert verify_model_ready(SIGNED.encode(), {"k-2026-06": SECRET}) == verified
    assert verify_model_ready(json.loads(SIGNED), [KEY]) == verified


def test_verify_refuses_a_message_whose_wire_numbers_are_written_differently_only_if_values_differ() -> None:
    # 0.9 written as 0.90 or 9e-1 is the same double: the canonical form is built from values, not from the text.
    assert verify_model_ready(SIGNED.replace('"baseline_value":0.9', '"baseline_value":9e-1'), [KEY])
    with pytest.raises(InvalidMessageSignature):
        verify_model_ready(SIGNED.replace('"baseline_value":0.9', '"baseline_value":0.91'), [KEY])


@pytest.mark.parametrize(
    ("mutate", "error", "field"),
    [
        (lambda b: b["tags"].pop("signature"), InvalidMessageSignature, "tags.signature"),
        (lambda b: b["tags"].pop("key_id"), InvalidMessageSignature, "tags.key_id"),
        (lambda b: b["tags"].update(key_id="k-2026-01"), InvalidMessageSignature, "tags.signature"),
        (lambda b: b["tags"].update(key_id="someone-else"), InvalidMessageSignature, "tags.key_id"),
        (lambda b: b["tags"].update(signature="v1,abc"), InvalidMessageSignature, "tags.signature"),
        (
            lambda b: b["tags"].update(signature="v2," + b["tags"]["signature"][3:]),
            InvalidMessageSignature,
            "tags.signature",
        ),
        (lambda b: b["tags"].update(signature=5), InvalidMessageSignature, "tags.signature"),
        (lambda b: b.update(current_value=0.99), InvalidMessageSignature, "tags.signature"),
        (lambda b: b.update(timestamp="2026-06-01T12:03:41.512346Z"), InvalidMessageSignature, "tags.signature"),
        (lambda b: b["tags"].update(pipeline="forged"), InvalidMessageSignature, "tags.signature"),
    ],
)
def test_tampering_is_refused_with_a_typed_error_naming_the_tag(mutate: Any, error: type, field: str) -> None:
    body = json.loads(SIGNED)
    mutate(body)
    with pytest.raises(error) as info:
        verify_model_ready(json.dumps(body), [KEY, OLD_KEY])
    assert info.value.fields == [field]
    assert isinstance(info.value, InvalidModelReadyMessage)
    assert_no_secret(info.value)


def test_unsigned_messages_are_refused_unless_allowed() -> None:
    unsigned = message().to_json()
    with pytest.raises(InvalidMessageSignature) as info:
        verify_model_ready(unsigned, [KEY])
    assert info.value.fields == ["tags.signature"]
    assert verify_model_ready(unsigned, [KEY], require_signature=False) == message()
    # Allowed unsigned does not mean a bad signature passes.
    with pytest.raises(InvalidMessageSignature):
        verify_model_ready(SIGNED.replace("release", "forged"), [KEY], require_signature=False)


@pytest.mark.parametrize(
    "body",
    ["not json", "[1]", '{"a": 1, "a": 2}', '{"x": NaN}', b"\xff\xfe", SIGNED.replace("CHURN", "churn!")],
)
def test_invalid_bodies_are_typed_errors(body: str | bytes) -> None:
    with pytest.raises(InvalidModelReadyMessage):
        verify_model_ready(body, [KEY], require_signature=False)


def test_a_valid_signature_over_an_invalid_message_is_still_refused_by_the_contract() -> None:
    body = json.loads(SIGNED)
    body["surprise"] = 1
    body["tags"]["signature"] = signature_tags_for(body)
    with pytest.raises(InvalidModelReadyMessage) as info:
        verify_model_ready(json.dumps(body), [KEY])
    assert not isinstance(info.value, InvalidMessageSignature)
    assert info.value.fields == ["surprise"]


def signature_tags_for(payload: dict[str, Any]) -> str:
    from airflow_provider_hokusai.signing import compute_signature

    return compute_signature(payload, KEY)


# Property: any change to the signed bytes, any field, the signature or the key id is refused.

FIELDS = [k for k in json.loads(SIGNED) if k != "tags"]
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(position=st.integers(min_value=0, max_value=len(SIGNED) - 1), byte=st.integers(min_value=0, max_value=255))
def test_flipping_any_byte_of_the_body_is_refused_or_changes_nothing(position: int, byte: int) -> None:
    raw = bytearray(SIGNED.encode())
    raw[position] ^= byte or 1
    try:
        verified = verify_model_ready(bytes(raw), [KEY, OLD_KEY])
    except InvalidModelReadyMessage:
        return
    # Only a change the JSON value does not see (e.g. a hex digit's case inside an escape) can pass: same message.
    assert verified == ModelReadyToDeployMessage.from_json(SIGNED)


@PROPERTY
@given(field=st.sampled_from(FIELDS), value=st.one_of(st.text(max_size=20), st.floats(0.001, 1e6), st.integers()))
def test_changing_any_field_is_refused(field: str, value: Any) -> None:
    body = json.loads(SIGNED)
    if body[field] == value:
        return
    body[field] = value
    with pytest.raises(InvalidModelReadyMessage):
        verify_model_ready(json.dumps(body), [KEY])


@PROPERTY
@given(key=st.sampled_from(["pipeline", "message_id", "key_id", "signature", "new"]), value=st.text(max_size=60))
def test_changing_or_adding_any_tag_is_refused(key: str, value: str) -> None:
    body = json.loads(SIGNED)
    if body["tags"].get(key) == value:
        return
    body["tags"][key] = value
    with pytest.raises(InvalidModelReadyMessage) as info:
        verify_model_ready(json.dumps(body), [KEY, OLD_KEY])
    assert_no_secret(info.value)


@PROPERTY
@given(secret=st.text(min_size=32, max_size=64).filter(lambda s: s != SECRET))
def test_another_key_under_the_same_id_never_verifies(secret: str) -> None:
    try:
        other = SigningKey(key_id=KEY.key_id, secret=secret)  # type: ignore[arg-type]
    except ValueError:
        return
    with pytest.raises(InvalidMessageSignature):
        verify_model_ready(SIGNED, [other])

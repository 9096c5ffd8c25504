"""
The pure verification of MLflow webhook deliveries (``airflow_provider_hokusai.registry.events``), and the receiver
app's answers with a recorder that needs no database (the database path is tested on real servers in
``tests/system/test_registry_webhooks.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_hokusai.exceptions import (
    InvalidConfigurationError,
    WebhookRejected,
)
from airflow_provider_hokusai.registry import events as wh

SECRET = "whsec-hokusai-test-0123456789"
OLD_SECRET = "whsec-hokusai-old-9876543210"
DELIVERY = "4a2c9d1e-delivery"
NOW = 1767225600
BODY = b'{"entity":"model_version","action":"created","data":{"name":"m","version":"1"}}'
# Computed once with nothing but the standard library (hmac, hashlib, base64), as the docs show.
VECTOR = "v1,P5M9ZwI5mgJH5Hbr7YA38zFgnrs8pFuCXFdIIqmgb/Y="


def headers(body: bytes = BODY, secret: str = SECRET, delivery: str = DELIVERY, ts: int = NOW) -> dict[str, str]:
    return {
        wh.SIGNATURE_HEADER: wh.sign(secret, delivery, str(ts), body),
        wh.DELIVERY_ID_HEADER: delivery,
        wh.TIMESTAMP_HEADER: str(ts),
    }


# Signature


def test_sign_matches_the_stdlib_vector_and_mlflows_own_signer() -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    independent = hmac.new(SECRET.encode(), f"{DELIVERY}.{NOW}.".encode() + BODY, hashlib.sha256).digest()
    assert "v1," + base64.b64encode(independent).decode() == VECTOR
    assert wh.sign(SECRET, DELIVERY, str(NOW), BODY) == VECTOR
    assert _generate_hmac_signature(SECRET, DELIVERY, str(NOW), BODY.decode()) == VECTOR


def test_a_genuine_delivery_verifies_and_parses() -> None:
    event = wh.verify_delivery(headers(), BODY, [SECRET], NOW + 10)
    assert (event.event, event.model_name, event.version, event.delivery_id) == (
        "model_version.created",
        "m",
        "1",
        DELIVERY,
    )
    assert event.ignored_because() is None
    assert event.asset_extra() == {
        "model_name": "m",
        "version": "1",
        "event": "model_version.created",
        "delivery_id": DELIVERY,
        "signed_at": NOW,
    }


def test_lowercase_headers_and_several_signatures_are_accepted() -> None:
    lower = {k.lower(): v for k, v in headers().items()}
    lower[wh.SIGNATURE_HEADER.lower()] = f"v1,{base64.b64encode(b'x' * 32).decode()} {VECTOR}"
    assert wh.verify_signature(lower, BODY, [SECRET], NOW) == (DELIVERY, NOW)


def test_rotation_accepts_any_configured_secret() -> None:
    signed_with_old = headers(secret=OLD_SECRET)
    assert wh.verify_signature(signed_with_old, BODY, [SECRET, OLD_SECRET], NOW)[0] == DELIVERY
    with pytest.raises(WebhookRejected):
        wh.verify_signature(signed_with_old, BODY, [SECRET], NOW)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({wh.SIGNATURE_HEADER: None}, wh.SIGNATURE_HEADER),
        ({wh.DELIVERY_ID_HEADER: None}, wh.DELIVERY_ID_HEADER),
        ({wh.TIMESTAMP_HEADER: None}, wh.TIMESTAMP_HEADER),
        ({wh.SIGNATURE_HEADER: "v2,abc"}, "v1,<base64>"),
        ({wh.SIGNATURE_HEADER: "v1,not base64!"}, "v1,<base64>"),
        ({wh.SIGNATURE_HEADER: "v1," + base64.b64encode(b"forged" * 6).decode()}, "does not match"),
        ({wh.TIMESTAMP_HEADER: "soon"}, "Unix seconds"),
        ({wh.DELIVERY_ID_HEADER: "a b"}, wh.DELIVERY_ID_HEADER),
    ],
)
def test_bad_signature_headers_are_401_and_name_the_header(change: dict[str, Any], needle: str) -> None:
    sent = {k: v for k, v in {**headers(), **change}.items() if v is not None}
    with pytest.raises(WebhookRejected) as caught:
        wh.verify_signature(sent, BODY, [SECRET], NOW)
    assert caught.value.http_status == 401
    assert needle in str(caught.value)
    assert SECRET not in str(caught.value) and VECTOR.split(",")[1] not in str(caught.value)


def test_a_tampered_body_or_timestamp_does_not_verify() -> None:
    with pytest.raises(WebhookRejected):
        wh.verify_signature(headers(), BODY.replace(b'"1"', b'"2"'), [SECRET], NOW)
    moved = {**headers(), wh.TIMESTAMP_HEADER: str(NOW + 1)}
    with pytest.raises(WebhookRejected):
        wh.verify_signature(moved, BODY, [SECRET], NOW)


@pytest.mark.parametrize("offset", [wh.TOLERANCE_SECONDS + 1, -(wh.TOLERANCE_SECONDS + 1)])
def test_timestamps_outside_the_window_are_stale(offset: int) -> None:
    with pytest.raises(WebhookRejected) as caught:
        wh.verify_signature(headers(), BODY, [SECRET], NOW + offset)
    assert caught.value.http_status == 401
    assert wh.verify_signature(headers(), BODY, [SECRET], NOW + wh.TOLERANCE_SECONDS)[1] == NOW


# Payload


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"\xff\xfe", "body"),
        (b"[1, 2]", "body"),
        (b'{"entity": "model_version", "data": {}}', "action"),
        (b'{"entity": "model_version", "action": "created", "data": []}', "data"),
        (b'{"entity": "model_version", "action": "created", "data": {"version": "1"}}', "data.name"),
        (b'{"entity": "model_version_tag", "action": "set", "data": {"name": "m", "version": "1"}}', "data.key"),
    ],
)
def test_malformed_bodies_are_400_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        wh.verify_delivery(headers(body), body, [SECRET], NOW)
    assert caught.value.http_status == 400
    assert f"): {field}: " in str(caught.value) or f"; {field}: " in str(caught.value)


def _event(entity: str, action: str, data: dict[str, Any]) -> wh.RegistryEvent:
    body = json.dumps({"entity": entity, "action": action, "timestamp": "t", "data": data}).encode()
    return wh.verify_delivery(headers(body), body, [SECRET], NOW)


def test_which_events_become_asset_events() -> None:
    token = _event("model_version_tag", "set", {"name": "m", "version": "3", "key": "hokusai_token_id", "value": "X"})
    assert token.ignored_because() is None and token.asset_extra()["event"] == "model_version_tag.set"
    other_tag = _event("model_version_tag", "set", {"name": "m", "version": "3", "key": "team", "value": "x"})
    assert other_tag.ignored_because() == "the tag set is not one of the candidate tags"
    alias = _event("model_version_alias", "created", {"name": "m", "alias": "champion", "version": "3"})
    assert alias.ignored_because() == "event model_version_alias.created is not handled"
    model = _event("registered_model", "created", {"name": "m", "tags": {}})
    assert model.ignored_because() is not None


# Secrets


def test_secrets_from_a_connection_current_first_then_previous() -> None:
    assert wh.secrets_from(SECRET, {"previous_secrets": [OLD_SECRET, SECRET]}) == [SECRET, OLD_SECRET]
    assert wh.secrets_from(SECRET, {"previous_secrets": OLD_SECRET}) == [SECRET, OLD_SECRET]


def test_unusable_secrets_name_the_field_never_the_value() -> None:
    with pytest.raises(InvalidConfigurationError) as caught:
        wh.secrets_from("short-secret", {"previous_secrets": ["tiny", 7]}, "hook")
    text = str(caught.value)
    assert caught.value.fields == ["hook.password", "hook.extra.previous_secrets[0]", "hook.extra.previous_secrets[1]"]
    assert "short-secret" not in text and "tiny" not in text
    with pytest.raises(InvalidConfigurationError) as missing:
        wh.secrets_from(None, {})
    assert missing.value.fields == [f"{wh.DEFAULT_CONN_ID}.password"]


# The receiver app, with an in-memory recorder


class MemoryRecorder:
    def __init__(self) -> None:
        self.events: list[wh.RegistryEvent] = []

    def __call__(self, event: wh.RegistryEvent) -> int:
        if any(e.delivery_id == event.delivery_id for e in self.events):
            raise WebhookRejected(f"delivery {event.delivery_id} was already recorded", http_status=409)
        self.events.append(event)
        return len(self.events)


@pytest.fixture
def receiver() -> tuple[TestClient, MemoryRecorder]:
    from airflow_provider_hokusai.plugins._webhook_app import create_app

    recorder = MemoryRecorder()
    app = create_app(secrets_loader=lambda: [SECRET], recorder=recorder, clock=lambda: NOW, max_body_bytes=1024)
    return TestClient(app), recorder


def test_receiver_answers(receiver: tuple[TestClient, MemoryRecorder]) -> None:
    client, recorder = receiver
    ok = client.post("/mlflow", content=BODY, headers=headers())
    assert ok.status_code == 200 and ok.json()["status"] == "recorded"
    assert client.post("/mlflow", content=BODY, headers=headers()).status_code == 409
    assert client.post("/mlflow", content=BODY, headers=headers(secret=OLD_SECRET)).status_code == 401
    assert client.post("/mlflow", content=BODY, headers=headers(ts=NOW - 400)).status_code == 401
    assert client.post("/mlflow", content=b"{", headers=headers(b"{", delivery="d-2")).status_code == 400
    big = b" " * 1025
    assert client.post("/mlflow", content=big, headers=headers(big, delivery="d-3")).status_code == 413
    streamed = client.post("/mlflow", content=iter([b" " * 600, b" " * 600]), headers=headers(delivery="d-4"))
    assert streamed.status_code == 413
    alias = b'{"entity":"model_version_alias","action":"created","data":{"name":"m","alias":"a","version":"1"}}'
    ignored = client.post("/mlflow", content=alias, headers=headers(alias, delivery="d-5"))
    assert ignored.status_code == 202 and ignored.json()["status"] == "ignored"
    assert [e.delivery_id for e in recorder.events] == [DELIVERY]


def test_receiver_without_a_secret_is_503_and_says_nothing_of_the_connection() -> None:
    from airflow_provider_hokusai.plugins._webhook_app import ReceiverUnavailable, create_app

    def no_secret() -> list[str]:
        raise ReceiverUnavailable("the receiver has no usable secret; see the API server log")

    client = TestClient(create_app(secrets_loader=no_secret, recorder=MemoryRecorder(), clock=lambda: NOW))
    answer = client.post("/mlflow", content=BODY, headers=headers())
    assert answer.status_code == 503 and "password" not in answer.text

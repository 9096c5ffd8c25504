"""MLflow model-registry webhooks, verified: what a delivery must carry before it becomes an Airflow asset event.

MLflow 3 signs each delivery the Standard Webhooks way: ``X-MLflow-Signature: v1,<base64>`` is the HMAC-SHA256,
under the webhook's secret, of ``<X-MLflow-Delivery-Id>.<X-MLflow-Timestamp>.<raw body>``. :func:`verify_delivery`
checks that against every configured secret (rotation: any of them may match) in constant time, refuses a
timestamp outside the window, then parses the body. Pure: no I/O, no Airflow; the receiver
(``airflow_provider_hokusai.plugins._webhook_app``) adds the secrets, the replay check and the asset event, and
:func:`load_webhook_secrets` reads the secrets from an Airflow connection.

Errors name the header or field and the rule; neither the secrets nor the presented signature ever reach a text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_hokusai.exceptions import (
    InvalidConfigurationError,
    WebhookRejected,
)
from airflow_provider_hokusai.registry import tags as t

__all__ = [
    "DEFAULT_CONN_ID",
    "DELIVERY_ID_HEADER",
    "MAX_BODY_BYTES",
    "MODEL_VERSION_ASSET",
    "SIGNATURE_HEADER",
    "SUBSCRIBED_EVENTS",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "RegistryEvent",
    "load_webhook_secrets",
    "secrets_from",
    "sign",
    "verify_delivery",
    "verify_signature",
]

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
_SIGNATURE_VERSION = "v1"
#: Deliveries signed longer ago (or further ahead) than this are refused; delivery ids are remembered this long.
TOLERANCE_SECONDS = 300
#: Larger bodies are refused (413) before they are read in full; MLflow's payloads are a few KiB.
MAX_BODY_BYTES = 256 * 1024
MIN_SECRET_LENGTH = 16
DEFAULT_CONN_ID = "hokusai_mlflow_webhook"
#: The asset each verified registry event is recorded on (the DAG ``hokusai_registry_events`` runs on it).
MODEL_VERSION_ASSET = "hokusai_model_version_registered"
#: What the receiver subscribes to and turns into asset events (``entity.action``).
_VERSION_CREATED = "model_version.created"
_VERSION_TAG_SET = "model_version_tag.set"
SUBSCRIBED_EVENTS = (_VERSION_CREATED, _VERSION_TAG_SET)
#: A tag set is an event only when it is one of the upstream platform's candidate tags.
_CANDIDATE_TAGS = frozenset({t.TOKEN_ID, t.BENCHMARK_METRIC, t.BENCHMARK_VALUE})

_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_MAX_NAME = 500


@dataclass(frozen=True)
class RegistryEvent:
    """
    A verified delivery: who sent it (``delivery_id``), when it was signed, and what it says.

    :param event: ``entity.action``, e.g. ``model_version.created``.
    :param model_name: The registered model's name, when the event is about a model version.
    :param version: The model version, when the event is about one.
    :param tag_key: The tag set, for ``model_version_tag.set``.
    """

    delivery_id: str
    timestamp: int
    event: str
    model_name: str | None = None
    version: str | None = None
    tag_key: str | None = None

    def ignored_because(self) -> str | None:
        """Why the receiver does not turn this event into an asset event; None when it does."""
        if self.event not in SUBSCRIBED_EVENTS:
            return f"event {self.event} is not handled"
        if not (self.model_name and self.version):
            return f"event {self.event} names no model version"
        if self.event == _VERSION_TAG_SET and self.tag_key not in _CANDIDATE_TAGS:
            return "the tag set is not one of the candidate tags"
        return None

    def asset_extra(self) -> dict[str, Any]:
        """The asset event's extra: ``model_name``, ``version``, ``event``, and ``delivery_id`` for replay checks."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "event": self.event,
            "delivery_id": self.delivery_id,
            "signed_at": self.timestamp,
        }


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """
    The ``X-MLflow-Signature`` value MLflow sends for this delivery: ``v1,`` + base64(HMAC-SHA256).

    :param body: The raw request body, exactly as sent.
    """
    digest = hmac.new(secret.encode(), b".".join([delivery_id.encode(), timestamp.encode(), body]), hashlib.sha256)
    return f"{_SIGNATURE_VERSION},{base64.b64encode(digest.digest()).decode()}"


def _header(headers: Mapping[str, str], name: str) -> str:
    # Starlette's headers are case-insensitive; a plain dict is looked up in either spelling.
    value = headers.get(name) or headers.get(name.lower())
    if not value:
        raise WebhookRejected(f"header {name} is missing", http_status=401)
    return str(value).strip()


def _presented(signature_header: str) -> list[bytes]:
    """The base64 signatures of a ``v1,<b64>`` header (several, space-separated, are allowed), decoded."""
    found: list[bytes] = []
    for part in signature_header.split():
        version, _, encoded = part.partition(",")
        if version != _SIGNATURE_VERSION:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not found:
        raise WebhookRejected(f"header {SIGNATURE_HEADER} must hold '{_SIGNATURE_VERSION},<base64>'", http_status=401)
    return found


def verify_signature(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float) -> tuple[str, int]:
    """
    Check the delivery's signature and timestamp; returns ``(delivery_id, timestamp)``.

    :param headers: The request headers (case-insensitive mapping, or a dict spelled as MLflow sends them).
    :param body: The raw body.
    :param secrets: Every accepted secret (current first); any one signing the delivery suffices.
    :param now: The receiver's clock, in Unix seconds.
    :raises WebhookRejected: 401: a header is missing or malformed, no secret produced the signature, or the
        timestamp is more than :data:`TOLERANCE_SECONDS` away from ``now``.
    """
    signature_header = _header(headers, SIGNATURE_HEADER)
    delivery_id = _header(headers, DELIVERY_ID_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if not _DELIVERY_ID.match(delivery_id):
        raise WebhookRejected(
            f"header {DELIVERY_ID_HEADER} must be 1-128 characters of [A-Za-z0-9._:-]", http_status=401
        )
    if not _TIMESTAMP.match(timestamp):
        raise WebhookRejected(f"header {TIMESTAMP_HEADER} must be Unix seconds", http_status=401)
    presented = _presented(signature_header)
    signed = b".".join([delivery_id.encode(), timestamp.encode(), body])
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
        # Every pair is compared, in constant time each, whatever matched before.
        for candidate in presented:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookRejected(
            f"header {SIGNATURE_HEADER} does not match the body under any configured secret", http_status=401
        )
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise WebhookRejected(
            f"header {TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS}s away from now", http_status=401
        )
    return delivery_id, int(timestamp)


def _text(data: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise _payload_error([(f"data.{key}", "must be a non-empty string")])
    if len(str(value)) > _MAX_NAME:
        raise _payload_error([(f"data.{key}", f"must be at most {_MAX_NAME} characters")])
    return str(value)


def _payload_error(errors: list[tuple[str, str]]) -> WebhookRejected:
    """400 naming every field of the body that breaks its rule."""
    detail = "; ".join(f"{field}: {rule}" for field, rule in errors)
    return WebhookRejected(f"invalid MLflow webhook payload ({len(errors)} error(s)): {detail}", http_status=400)


def parse_event(body: bytes, delivery_id: str, timestamp: int) -> RegistryEvent:
    """
    The event a verified body describes.

    :raises WebhookRejected: the body is not UTF-8 JSON, not an object with ``entity``, ``action`` and a
        ``data`` object, or a model-version event without its name and version.
    """
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        # ValueError: not JSON, or an integer beyond Python's 4300-digit conversion limit.
        raise _payload_error([("body", "must be a UTF-8 JSON object")]) from None
    except RecursionError:
        # Arrays or objects nested deeper than the parser's recursion limit: no MLflow payload is (a 400, not a 500).
        raise _payload_error([("body", "must not nest arrays and objects this deep")]) from None
    if not isinstance(payload, dict):
        raise _payload_error([("body", "must be a JSON object")])
    errors = [(k, "must be a non-empty string") for k in ("entity", "action") if not isinstance(payload.get(k), str)]
    if not isinstance(payload.get("data"), dict):
        errors.append(("data", "must be a JSON object"))
    if errors:
        raise _payload_error(errors)
    event = f"{payload['entity']}.{payload['action']}"
    if event not in SUBSCRIBED_EVENTS:
        return RegistryEvent(delivery_id, timestamp, event)
    data = payload["data"]
    tag_key = _text(data, "key") if event == _VERSION_TAG_SET else None
    return RegistryEvent(delivery_id, timestamp, event, _text(data, "name"), _text(data, "version"), tag_key)


def verify_delivery(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float) -> RegistryEvent:
    """:func:`verify_signature`, then :func:`parse_event`: the one entry point of the receiver."""
    delivery_id, timestamp = verify_signature(headers, body, secrets, now)
    return parse_event(body, delivery_id, timestamp)


def secrets_from(password: str | None, extra: Mapping[str, Any], conn_id: str = DEFAULT_CONN_ID) -> list[str]:
    """
    The accepted secrets of a connection: its password (the current secret, the one MLflow is given) first, then
    the extra ``previous_secrets`` (a list, or one string) accepted during a rotation.

    :raises InvalidConfigurationError: no secret, a non-string one, or one shorter than :data:`MIN_SECRET_LENGTH`.
    """
    previous = extra.get("previous_secrets") or []
    previous = [previous] if isinstance(previous, str) else previous
    if not isinstance(previous, list):
        raise InvalidConfigurationError(
            [(f"{conn_id}.extra.previous_secrets", "must be a list of strings")],
            subject="MLflow webhook secret configuration",
        )
    named: list[tuple[str, Any]] = [(f"{conn_id}.password", password)] if password else []
    named += [(f"{conn_id}.extra.previous_secrets[{i}]", s) for i, s in enumerate(previous)]
    errors = [] if password else [(f"{conn_id}.password", "must hold the current webhook secret")]
    for field, secret in named:
        if not isinstance(secret, str):
            errors.append((field, "must be a string"))
        elif len(secret) < MIN_SECRET_LENGTH:
            errors.append((field, f"must be at least {MIN_SECRET_LENGTH} characters"))
    if errors:
        raise InvalidConfigurationError(errors, subject="MLflow webhook secret configuration")
    found = [str(secret) for _, secret in named]
    return list(dict.fromkeys(found))


def load_webhook_secrets(conn_id: str = DEFAULT_CONN_ID) -> list[str]:
    """
    The secrets of Airflow connection ``conn_id`` (any type; environment, secrets backend or metadata database),
    registered with Airflow's secrets masker before anything else is done with them.

    :raises InvalidConfigurationError: the connection is not defined or holds no usable secret.
    """
    from airflow_provider_hokusai.utils.connections import connection
    from airflow_provider_hokusai.utils.redaction import mask_connection, mask_secrets

    conn = connection(conn_id, conn_id, "MLflow webhook secret configuration")
    mask_connection(conn)
    extra = conn.extra_dejson if isinstance(conn.extra_dejson, Mapping) else {}
    secrets = secrets_from(conn.password, extra, conn_id)
    mask_secrets(secrets)
    return secrets

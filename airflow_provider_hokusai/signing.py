"""
Signed ``model_ready_to_deploy`` messages: HMAC-SHA256 over a canonical form, carried in the contract's ``tags``.

Pure functions, no I/O (keys are loaded from Airflow by :mod:`~airflow_provider_hokusai.queue.signer`). The
algorithm, byte for byte, with a test vector, is in ``docs/signing.md``; in short:

1. Take the message as a JSON object and drop ``tags.signature`` (``tags.key_id`` stays: it is signed too).
2. Serialize it canonically, as RFC 8785 (JCS) does: keys sorted by UTF-16 code units, no whitespace, strings as
   ECMAScript's ``JSON.stringify`` writes them, numbers as ECMAScript writes the IEEE-754 double (``2.0`` -> ``2``),
   UTF-8. The canonical form is built from the parsed values, never from the received text, so any JSON parser
   reproduces it.
3. ``tags.signature = "v1," + base64(HMAC-SHA256(key, canonical bytes))``, ``tags.key_id`` = the key's id.

The signature is a pure function of the message and the key: the same message (same timestamp) signed with the
same key gives the same body, byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from airflow_provider_hokusai.exceptions import (
    InvalidConfigurationError,
    InvalidMessageSignature,
    InvalidModelReadyMessage,
)
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.messages.canonical import canonical_object, ecmascript_number
from airflow_provider_hokusai.messages.model_ready import MAX_TAGS
from airflow_provider_hokusai.utils.json_bounds import deeper_than
from airflow_provider_hokusai.utils.validation import validate

__all__ = [
    "SigningKey",
    "canonical_bytes",
    "compute_signature",
    "ecmascript_number",
    "keyring",
    "sign_model_ready",
    "signature_tags",
    "signing_key",
    "verify_model_ready",
    "with_signature",
]

_SIGNATURE_TAG = "signature"
_KEY_ID_TAG = "key_id"
_SIGNATURE_TAGS = (_KEY_ID_TAG, _SIGNATURE_TAG)
_SIGNATURE_SCHEME = "v1"
_KEY_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_MIN_SECRET_BYTES = 32
# "v1," and the standard base64 (with its one "=" of padding) of a 32-byte HMAC-SHA256.
_SIGNATURE_PATTERN = re.compile(r"^v1,[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")
# A received key id is echoed in errors; no more of it than a real one can hold.
_MAX_ECHO = 64
#: Deepest nesting of arrays and objects a received body may have. The contract's message is two levels deep; the
#: bound keeps the recursive canonical form (and pydantic) far from Python's recursion limit.
MAX_DEPTH = 32


class SigningKey(BaseModel):
    """
    One HMAC-SHA256 key: its public id and its secret (the key bytes are the secret's UTF-8 encoding).

    :param key_id: Carried in ``tags.key_id``; 1-64 letters, digits, ``.``, ``_`` or ``-``.
    :param secret: At least 32 bytes of UTF-8; ``openssl rand -base64 32`` makes a good one. Never printed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: Annotated[str, Field(pattern=_KEY_ID_PATTERN)]
    secret: SecretStr

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr) -> SecretStr:
        # A short secret is guessable offline from one signed message; the rule names the size, never the value.
        try:
            size = len(secret.get_secret_value().encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
        if size < _MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {_MIN_SECRET_BYTES} bytes of UTF-8 (e.g. openssl rand -base64 32)")
        return secret

    @property
    def key_bytes(self) -> bytes:
        """The HMAC key: the secret's UTF-8 bytes."""
        return self.secret.get_secret_value().encode("utf-8")


def signing_key(key_id: str, secret: str) -> SigningKey:
    """
    A validated :class:`SigningKey`.

    :param key_id: The key's public id.
    :param secret: The key's secret text.
    :raises InvalidConfigurationError: naming ``key_id`` or ``secret`` and the rule broken; the secret is never echoed.
    """
    return validate(SigningKey, {"key_id": key_id, "secret": secret}, InvalidConfigurationError, subject="signing key")


def keyring(keys: Iterable[SigningKey] | Mapping[str, str]) -> dict[str, SigningKey]:
    """
    Verification keys by id, from :class:`SigningKey` objects or a ``{key_id: secret}`` mapping.

    :param keys: Every key a verifier accepts (during a rotation, the old and the new one).
    :raises InvalidConfigurationError: no key, an invalid one, or one key id given two different secrets.
    """
    items = [signing_key(k, s) for k, s in keys.items()] if isinstance(keys, Mapping) else list(keys)
    ring: dict[str, SigningKey] = {}
    for index, key in enumerate(items):
        if not isinstance(key, SigningKey):
            raise InvalidConfigurationError(
                [(f"keys[{index}]", f"must be a SigningKey, not {type(key).__name__}")], subject="signing key"
            )
        if key.key_id in ring and ring[key.key_id] != key:
            raise InvalidConfigurationError(
                [(f"keys[{index}].key_id", f"{key.key_id!r} is given two different secrets")], subject="signing key"
            )
        ring[key.key_id] = key
    if not ring:
        raise InvalidConfigurationError([("keys", "at least one verification key is needed")], subject="signing key")
    return ring


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """
    The bytes that are signed: ``payload`` without ``tags.signature``, in canonical JSON (RFC 8785), UTF-8.

    :param payload: The message as a JSON object (``message.to_dict()``, or a received body after ``json.loads``).
    :raises InvalidModelReadyMessage: a value with no canonical form (non-finite number, lone surrogate).
    """
    tags = payload.get("tags")
    if isinstance(tags, Mapping) and _SIGNATURE_TAG in tags:
        payload = {**payload, "tags": {k: v for k, v in tags.items() if k != _SIGNATURE_TAG}}
    return canonical_object(payload, "").encode("utf-8")


def compute_signature(payload: Mapping[str, Any], key: SigningKey) -> str:
    """``"v1," + base64(HMAC-SHA256(key, canonical_bytes(payload)))``: the value of ``tags.signature``."""
    mac = hmac.new(key.key_bytes, canonical_bytes(payload), hashlib.sha256).digest()
    return f"{_SIGNATURE_SCHEME},{base64.b64encode(mac).decode('ascii')}"


# Producer side.


def signature_tags(message: ModelReadyToDeployMessage, key: SigningKey) -> dict[str, str]:
    """
    The ``key_id`` and ``signature`` tags of ``message`` signed with ``key`` (also sent as SQS message attributes).

    An existing signature is replaced: the producer signs the message as it publishes it now.

    :raises InvalidModelReadyMessage: ``tags`` has no room left for the two entries (the contract allows 50).
    """
    tags = {k: v for k, v in (message.tags or {}).items() if k not in _SIGNATURE_TAGS}
    if len(tags) + len(_SIGNATURE_TAGS) > MAX_TAGS:
        rule = f"has {len(tags)} entries; signing needs {len(_SIGNATURE_TAGS)} more and the contract allows {MAX_TAGS}"
        raise InvalidModelReadyMessage([("tags", rule)])
    payload = {**message.to_dict(), "tags": {**tags, _KEY_ID_TAG: key.key_id}}
    return {_KEY_ID_TAG: key.key_id, _SIGNATURE_TAG: compute_signature(payload, key)}


def with_signature(message: ModelReadyToDeployMessage, tags: Mapping[str, str]) -> ModelReadyToDeployMessage:
    """``message`` carrying the signature ``tags`` of :func:`signature_tags` (appended last, replacing old ones)."""
    kept = {k: v for k, v in (message.tags or {}).items() if k not in _SIGNATURE_TAGS}
    return message.model_copy(update={"tags": {**kept, **tags}})


def sign_model_ready(message: ModelReadyToDeployMessage, key: SigningKey) -> ModelReadyToDeployMessage:
    """
    ``message`` signed with ``key``; its JSON (``to_json()``) is the body a signing queue hook publishes.

    :raises InvalidModelReadyMessage: ``tags`` has no room for the signature.
    """
    return with_signature(message, signature_tags(message, key))


# Consumer side.


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which copy of a repeated key wins: refusing them leaves nothing to disagree about.
    result = dict(pairs)
    if len(result) != len(pairs):
        repeated = sorted(key for key, count in Counter(k for k, _ in pairs).items() if count > 1)
        raise InvalidModelReadyMessage([(key[:_MAX_ECHO], "appears more than once") for key in repeated])
    return result


def _no_constant(name: str) -> Any:
    raise InvalidModelReadyMessage([("message", f"{name} is not a JSON number")])


_STRICT: dict[str, Any] = {"object_pairs_hook": _no_duplicates, "parse_constant": _no_constant}


def _decode_body(body: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """
    A received body as a JSON object; repeated keys, ``NaN``/``Infinity``, invalid UTF-8, integers beyond Python's
    4300-digit conversion limit and nesting deeper than :data:`MAX_DEPTH` are refused.

    :raises InvalidModelReadyMessage: naming what is wrong.
    """
    try:
        if isinstance(body, Mapping):
            payload: Any = dict(body)
        else:
            payload = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body, **_STRICT)
    except UnicodeDecodeError:
        raise InvalidModelReadyMessage([("message", "must be UTF-8")]) from None
    except json.JSONDecodeError as exc:
        raise InvalidModelReadyMessage([("message", f"is not JSON: {exc.msg} at char {exc.pos}")]) from None
    except ValueError:  # json's other one: an integer beyond Python's int-string conversion limit (4300 digits)
        raise InvalidModelReadyMessage([("message", "holds a number too long to read")]) from None
    except (TypeError, RecursionError):
        raise InvalidModelReadyMessage([("message", "is not JSON text")]) from None
    if not isinstance(payload, dict):
        raise InvalidModelReadyMessage([("message", "must be a JSON object")])
    if deeper_than(payload, MAX_DEPTH):
        raise InvalidModelReadyMessage([("message", f"must nest arrays and objects at most {MAX_DEPTH} deep")])
    return payload


def _check_signature(payload: Mapping[str, Any], ring: Mapping[str, SigningKey]) -> None:
    tags = payload.get("tags")
    tags = tags if isinstance(tags, Mapping) else {}
    key_id, signature = tags.get(_KEY_ID_TAG), tags.get(_SIGNATURE_TAG)
    if not isinstance(key_id, str):
        raise InvalidMessageSignature([(f"tags.{_KEY_ID_TAG}", "missing; a signed message names its key")])
    if key_id not in ring:
        known = ", ".join(sorted(ring))
        rule = f"{key_id[:_MAX_ECHO]!r} is not one of the configured verification keys ({known})"
        raise InvalidMessageSignature([(f"tags.{_KEY_ID_TAG}", rule)])
    if not isinstance(signature, str) or not _SIGNATURE_PATTERN.match(signature):
        rule = "must be 'v1,' followed by the base64 of an HMAC-SHA256 (44 characters)"
        raise InvalidMessageSignature([(f"tags.{_SIGNATURE_TAG}", rule)])
    expected = compute_signature(payload, ring[key_id])
    # Constant time: how much of a guess matched must not show in the verifier's timing.
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        rule = f"does not match the message under key {key_id!r}: altered, or not signed with that key"
        raise InvalidMessageSignature([(f"tags.{_SIGNATURE_TAG}", rule)])


def verify_model_ready(
    body: str | bytes | Mapping[str, Any],
    keys: Iterable[SigningKey] | Mapping[str, str],
    *,
    require_signature: bool = True,
) -> ModelReadyToDeployMessage:
    """
    Verify a received body's signature, then validate it against the contract.

    :param body: The body as popped from Redis or received from SQS (text or bytes), or an already decoded object.
    :param keys: Every key this consumer accepts: :class:`SigningKey` objects or ``{key_id: secret}``.
    :param require_signature: Refuse unsigned messages (the default). ``False`` accepts them, for the time
        producers are being switched to signing; a message that carries a signature is verified either way.
    :return: The validated message (its ``tags`` still carry ``key_id`` and ``signature``).
    :raises InvalidMessageSignature: no signature while one is required.
    :raises InvalidMessageSignature: ``tags.key_id`` missing or not among ``keys``.
    :raises InvalidMessageSignature: ``tags.signature`` malformed or not matching.
    :raises InvalidModelReadyMessage: not JSON, or not a valid message (every bad field named).
    :raises InvalidConfigurationError: ``keys`` is empty or holds an invalid key.
    """
    ring = keyring(keys)
    payload = _decode_body(body)
    tags = payload.get("tags")
    signed = isinstance(tags, Mapping) and (_SIGNATURE_TAG in tags or _KEY_ID_TAG in tags)
    if signed:
        _check_signature(payload, ring)
    elif require_signature:
        raise InvalidMessageSignature([(f"tags.{_SIGNATURE_TAG}", "missing; only signed messages are accepted")])
    return ModelReadyToDeployMessage.from_json(payload)

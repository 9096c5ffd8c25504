"""
Signing keys from Airflow: one connection per key, listed by the queue connection's extra ``signing_conn_ids``.

A key is an Airflow connection of any type (``generic`` is the natural one): its **password** is the secret, its
**login** the key id (the connection id when the login is empty). Connections come from wherever Airflow reads
them (``AIRFLOW_CONN_*`` variables, a secrets backend such as Vault or AWS Secrets Manager, the metadata DB), so a
key can live in a secrets backend entry of its own.

The queue connection opts in with ``{"signing_conn_ids": ["hokusai_signing_2026_06", "hokusai_signing_2026_01"]}``
(a list, or one comma-separated string), newest first: producers sign with the first, verifiers accept any of
them. ``signature_required`` (default ``true``) tells the example consumer to refuse unsigned messages.

Every secret read is registered with Airflow's secrets masker (``airflow.sdk.log.mask_secret``, through
:func:`~airflow_provider_hokusai.utils.redaction.mask_connection`) before anything else happens, so it never reaches a
task log; error texts name connections and rules, never key material.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from airflow_provider_hokusai.exceptions import InvalidConfigurationError
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.signing import SigningKey, signature_tags, with_signature
from airflow_provider_hokusai.utils.connections import connection
from airflow_provider_hokusai.utils.validation import validate

__all__ = ["QueueSigner", "load_signing_key", "queue_signing_key", "queue_verification_keys", "signing_extra"]

_SIGNING_CONN_IDS_EXTRA = "signing_conn_ids"
_SIGNATURE_REQUIRED_EXTRA = "signature_required"


def _split(value: Any) -> Any:
    # Connection forms and URIs carry text: "a, b" is the list ["a", "b"].
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class _SigningExtra(BaseModel):
    """The signing settings among a queue connection's extras (the others are the queue hook's)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    signing_conn_ids: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=250)], ...], BeforeValidator(_split)
    ] = ()
    signature_required: bool = True


def signing_extra(extra: Mapping[str, Any]) -> _SigningExtra:
    """
    The signing settings of a queue connection's extra.

    :raises InvalidConfigurationError: ``extra.signing_conn_ids`` or ``extra.signature_required`` breaks its rule.
    """
    keys = (_SIGNING_CONN_IDS_EXTRA, _SIGNATURE_REQUIRED_EXTRA)
    return validate(
        _SigningExtra,
        {k: extra[k] for k in keys if k in extra},
        InvalidConfigurationError,
        subject="signing key",
        prefix="extra.",
    )


def load_signing_key(conn_id: str, field: str = "signing_conn_id") -> SigningKey:
    """
    The key held by the connection ``conn_id``: password = secret, login (or the connection id) = key id.

    :param conn_id: The key's connection.
    :param field: What named it, for the error (``extra.signing_conn_ids[0]``).
    :raises InvalidConfigurationError: the connection is not defined, has no password, or its key breaks a rule.
    """
    from airflow_provider_hokusai.utils.redaction import mask_connection

    conn = connection(conn_id, field, "signing key")
    secret = conn.password or ""
    # Before validation: a rule broken further down must not leave the secret unmasked for a later log line. The
    # URL-quoted forms are registered too (a base64 secret has "/" and "+").
    mask_connection(conn)
    if not secret:
        raise InvalidConfigurationError(
            [(field, f"connection {conn_id!r} has no password; the password is the key")], subject="signing key"
        )
    try:
        return validate(
            SigningKey,
            {"key_id": conn.login or conn_id, "secret": secret},
            InvalidConfigurationError,
            subject="signing key",
        )
    except InvalidConfigurationError as exc:
        raise InvalidConfigurationError(
            [(f"{field} ({conn_id}).{e.field}", e.rule) for e in exc.errors], subject="signing key"
        ) from None


def _queue_connection_extra(queue_conn_id: str | None) -> Mapping[str, Any]:
    """A queue connection's extra; empty when there is no id or no such connection (signing is then off)."""
    from airflow.sdk import BaseHook

    from airflow_provider_hokusai.utils.compat import AirflowNotFoundException

    if not queue_conn_id:
        return {}
    try:
        extra = BaseHook.get_connection(queue_conn_id).extra_dejson
    except AirflowNotFoundException:
        # An aws connection may be absent (boto's default credentials chain): it then asks for no signing either.
        return {}
    return extra if isinstance(extra, Mapping) else {}


def queue_signing_key(queue_conn_id: str | None) -> SigningKey | None:
    """
    The key a queue publishes with: the first (newest) of its connection's ``signing_conn_ids``; ``None`` = unsigned.

    Only that key is read: an older key may already be retired from the producers' secrets backend.

    :raises InvalidConfigurationError: signing is asked for but the key is missing or unusable; nothing may be
        published.
    """
    settings = signing_extra(_queue_connection_extra(queue_conn_id))
    if not settings.signing_conn_ids:
        return None
    return load_signing_key(settings.signing_conn_ids[0], f"extra.{_SIGNING_CONN_IDS_EXTRA}[0]")


def queue_verification_keys(queue_conn_id: str | None) -> tuple[list[SigningKey], bool]:
    """
    Every key a consumer of the queue accepts, and whether it must refuse unsigned messages.

    :return: ``(keys, signature_required)``; no keys means the queue is not signed and nothing can be verified.
    :raises InvalidConfigurationError: a listed key is missing or unusable.
    """
    settings = signing_extra(_queue_connection_extra(queue_conn_id))
    keys = [
        load_signing_key(conn_id, f"extra.{_SIGNING_CONN_IDS_EXTRA}[{index}]")
        for index, conn_id in enumerate(settings.signing_conn_ids)
    ]
    return keys, settings.signature_required and bool(keys)


class QueueSigner:
    """
    Signs what one queue hook publishes, with the newest key of its connection; passes messages through when the
    connection does not ask for signing.

    The key is read on first use (never when a hook is built) and kept for the hook's life, so a task signs all its
    messages with one key. The signature of the last message is remembered, since the publish path asks for it more
    than once (body, size check, SQS attributes) and it is a pure function of the message and the key.

    :param queue_conn_id: The queue's connection (whose extras may hold ``signing_conn_ids``).
    """

    def __init__(self, queue_conn_id: str | None) -> None:
        self.queue_conn_id = queue_conn_id
        self._last: tuple[ModelReadyToDeployMessage, dict[str, str]] | None = None

    @cached_property
    def key(self) -> SigningKey | None:
        """The signing key; ``None`` when unsigned; :class:`InvalidConfigurationError` when it is unusable."""
        return queue_signing_key(self.queue_conn_id)

    def tags(self, message: ModelReadyToDeployMessage) -> dict[str, str]:
        """``key_id`` and ``signature`` of ``message``; empty when the queue is unsigned."""
        key = self.key
        if key is None:
            return {}
        last = self._last
        if last is not None and last[0] is message:
            return last[1]
        tags = signature_tags(message, key)
        # Holding the message keeps its id from being reused by another object while the memo names it.
        self._last = (message, tags)
        return tags

    def signed(self, message: ModelReadyToDeployMessage) -> ModelReadyToDeployMessage:
        """``message`` as it goes on the wire: with its signature tags when the queue signs, unchanged otherwise."""
        tags = self.tags(message)
        return with_signature(message, tags) if tags else message

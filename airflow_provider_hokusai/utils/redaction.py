"""Keeping credentials out of every text the provider writes: logs, exceptions, CLI output, HTTP answers, tags.

Airflow's secrets masker does the work: :func:`mask_connection` registers what a connection holds (its password,
the extras Airflow deems sensitive, credentials written into a URI), and :func:`redact_text` runs a text through the
masker, then removes what no registration can know about (``user:password@`` in any URI, ``password=...``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["describe", "mask_connection", "mask_secrets", "redact_text"]

# scheme://user:password@host -> scheme://***@host
_URI_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
# The first word of the provider's own rule texts ("password: must be at least 16 characters") and of pydantic's
# ("password: Field required"): prose, not a value. A secret is one word, never followed by a space there.
_PROSE = (
    r"(?:must|missing|is|are|was|does|do|has|have|not|cannot|should|needs?|field|input|string|value|appears|"
    r"a|an|the|unknown|only|expected|at)[\s;,]"
)
# password=..., X-Amz-Signature=..., aws_secret_access_key=... in query strings, reprs and messages.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?P<key>\b[\w-]*(?:password|passwd|pwd|secret|token|signature|credential|api_?key|private_?key)[\w-]*"
    r"['\"]?\s*[=:]\s*['\"]?)(?!" + _PROSE + r")(?P<value>[^\s&,;'\")}]+)"
)
# Airflow's masker adds patterns without a lock; registrations from parallel checks are serialized here.
_MASK_LOCK = threading.Lock()


def _sensitive_values(value: Any, hidden: bool = False) -> Iterator[str]:
    """The values of ``value`` (a connection extra) under keys Airflow's masker deems sensitive, at any depth."""
    from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _sensitive_values(item, hidden or bool(should_hide_value_for_key(str(key))))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _sensitive_values(item, hidden)
    elif hidden and value not in (None, "") and not isinstance(value, bool):
        # Airflow masks string values only; a numeric secret (a PIN) is registered as the text it prints as.
        yield str(value)


def uri_passwords(values: Iterable[Any]) -> Iterator[str]:
    """Passwords written into URIs among ``values`` (e.g. an MLflow tracking URI ``https://u:p@host``)."""
    for value in values:
        if isinstance(value, str) and "@" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                continue
            if password:
                yield password


def mask_secrets(secrets: Iterable[str]) -> None:
    """Register ``secrets`` and their URL-quoted forms with Airflow's secrets masker."""
    from airflow.sdk.log import mask_secret

    with _MASK_LOCK:
        for secret in secrets:
            # Both quotings: Airflow's get_uri() escapes "/", urllib's default (and so many clients) keeps it.
            for form in {secret, quote(secret, safe=""), quote(secret)}:
                mask_secret(form)


def mask_connection(conn: Any) -> None:
    """
    Register what ``conn`` holds secretly: its password, the extras Airflow deems sensitive, and any password
    written into a URI in its host or extras (error texts often quote the URI, ``p@ss`` reading ``p%40ss``).
    """
    extra = conn.extra_dejson if isinstance(conn.extra_dejson, Mapping) else {}
    secrets = [conn.password] if conn.password else []
    secrets += list(_sensitive_values(extra))
    secrets += list(uri_passwords([conn.host, *extra.values()]))
    mask_secrets(secrets)


def redact_text(text: str, limit: int | None = None) -> str:
    """
    ``text`` as it may leave the provider: through Airflow's secrets masker, then without URI userinfo and
    ``key=value`` secrets.

    :param text: An error message, queue name or target description.
    :param limit: Cut the result to this many characters.
    """
    from airflow.sdk._shared.secrets_masker import redact

    text = str(redact(text))
    text = _URI_USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_ASSIGNMENT.sub(r"\g<key>***", text)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """``Type: message`` of an error, redacted."""
    text = redact_text(str(exc).strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

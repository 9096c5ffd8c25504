"""Keeping credentials out of every text the provider writes: logs, exceptions, CLI output, HTTP answers, tags.

Airflow's secrets masker does the work, through its public functions only: :func:`mask_connection` registers what a
connection holds (its password, credentials written into a URI, and every extra value with the name of each key
above it, so that Airflow's own rule - ``[core] sensitive_var_conn_names`` plus its default list - decides which
are secret), and :func:`redact_text` runs a text through the masker (``airflow.sdk.log.mask_logs``, the processor
Airflow's own logging applies), then removes what no registration can know about (``user:password@`` in any URI,
``password=...``). Airflow 3.3 exposes ``mask_secret`` and ``mask_logs`` in ``airflow.sdk.log``; the masker's
``redact`` and ``should_hide_value_for_key`` live only in the private ``airflow.sdk._shared`` package, which the
provider does not import.
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


def _named_values(value: Any, names: tuple[str, ...] = ()) -> Iterator[tuple[str, tuple[str, ...]]]:
    """
    Each value of ``value`` (a connection extra) with the names of the keys above it, at any depth: Airflow hides
    it when one of them is sensitive.
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _named_values(item, (*names, str(key)))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _named_values(item, names)
    elif names and value not in (None, "") and not isinstance(value, bool):
        # Airflow masks string values only; a numeric secret (a PIN) is registered as the text it prints as.
        yield str(value), names


def _forms(secret: str) -> set[str]:
    # Both quotings: Airflow's get_uri() escapes "/", urllib's default (and so many clients) keeps it.
    return {secret, quote(secret, safe=""), quote(secret)}


def _uri_passwords(values: Iterable[Any]) -> Iterator[str]:
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
            for form in _forms(secret):
                mask_secret(form)


def mask_connection(conn: Any) -> None:
    """
    Register what ``conn`` holds secretly: its password, the extras Airflow deems sensitive (a value under a
    sensitive key at any depth), and any password written into a URI in its host or extras (error texts often quote
    the URI, ``p@ss`` reading ``p%40ss``).
    """
    from airflow.sdk.log import mask_secret

    extra = conn.extra_dejson if isinstance(conn.extra_dejson, Mapping) else {}
    secrets = [conn.password] if conn.password else []
    secrets += list(_uri_passwords([conn.host, *extra.values()]))
    mask_secrets(secrets)
    with _MASK_LOCK:
        for value, names in _named_values(extra):
            for name in dict.fromkeys(names):
                for form in _forms(value):
                    # Masked only when Airflow deems ``name`` sensitive.
                    mask_secret(form, name)


def redact_text(text: str, limit: int | None = None) -> str:
    """
    ``text`` as it may leave the provider: through Airflow's secrets masker, then without URI userinfo and
    ``key=value`` secrets.

    :param text: An error message, queue name or target description.
    :param limit: Cut the result to this many characters.
    """
    from airflow.sdk.log import mask_logs

    text = str(mask_logs(None, "", {"event": text})["event"])
    text = _URI_USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_ASSIGNMENT.sub(r"\g<key>***", text)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """``Type: message`` of an error, redacted."""
    text = redact_text(str(exc).strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

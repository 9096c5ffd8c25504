"""
JSON in canonical form, as RFC 8785 (JCS) defines it, restricted to what ``JSON.parse`` and ``json.loads`` agree on.

Keys sorted by UTF-16 code units, no whitespace, strings as ECMAScript's ``JSON.stringify`` writes them, numbers as
ECMAScript writes the IEEE-754 double (``2.0`` -> ``2``). Built from parsed values, never from received text, so any
JSON parser reproduces it: what a message's signature is computed over (:mod:`airflow_provider_hokusai.signing`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

from airflow_provider_hokusai.exceptions import InvalidModelReadyMessage

__all__ = ["canonical_object", "ecmascript_number"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: str, field: str) -> str:
    # json's C string encoder escapes exactly what JSON.stringify escapes (", \, control characters as \b \f \n \r \t
    # or lower-case \u00xx) and writes the rest as is; a lone surrogate is the one difference, and I-JSON refuses it.
    if _SURROGATE.search(value):
        raise InvalidModelReadyMessage([(field, "must be valid Unicode (a lone surrogate cannot be signed)")])
    return encode_basestring(value)


def ecmascript_number(value: float, field: str = "number") -> str:
    """
    ``value`` as ECMAScript's ``Number::toString`` (and so ``JSON.stringify``) writes it.

    Python's ``repr`` gives the same shortest round-trip digits; only the layout differs (``2.0`` -> ``2``,
    ``1e-07`` -> ``1e-7``, ``1e+16`` -> ``10000000000000000``).

    :raises InvalidModelReadyMessage: a non-finite number (JSON has none).
    """
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidModelReadyMessage([(field, "must be a finite number")])
    if number == 0:
        return "0"
    text = repr(number)
    if "e" not in text:
        # Python writes 1e-4 <= |x| < 1e16 without an exponent, a range where ECMAScript does too: only ".0" differs.
        return text.removesuffix(".0")
    sign = "-" if number < 0 else ""
    mantissa, _, exp = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    significant = (whole + fraction).lstrip("0")
    # n: the value is 0.<digits> x 10**n, the notation of the ECMAScript specification.
    n = len(whole) - (len(whole + fraction) - len(significant)) + int(exp or 0)
    digits = significant.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    exponent = f"e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + exponent


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def canonical_object(value: Mapping[Any, Any], field: str) -> str:
    # field: the dotted path of this object, "" at the top, so errors name fields as the contract does.
    where = field or "message"
    if not all(isinstance(key, str) for key in value):
        raise InvalidModelReadyMessage([(where, "object keys must be strings")])
    # JCS sorts by UTF-16 code units, as JavaScript's default sort does; UTF-16-BE bytes compare in that order, and
    # ASCII keys (every key of the contract) compare the same either way.
    ordered = sorted(value) if all(k.isascii() for k in value) else sorted(value, key=_utf16)
    members = [f"{_string(key, where)}:{_canonical(value[key], f'{field}.{key}' if field else key)}" for key in ordered]
    return "{" + ",".join(members) + "}"


def _canonical(value: Any, field: str) -> str:
    if isinstance(value, str):
        return _string(value, field)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return ecmascript_number(value, field)
    if isinstance(value, Mapping):
        return canonical_object(value, field)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v, f"{field}[{i}]") for i, v in enumerate(value)) + "]"
    raise InvalidModelReadyMessage([(field, f"a {type(value).__name__} has no JSON form")])

"""
The token deployer's limits, as the contract enforces them, and the strict reading of numbers from registry tags.

The deployer is a Node service that validates with Joi, so "valid" means valid in JavaScript's terms:

* ``Joi.number()`` refuses numbers outside ±``Number.MAX_SAFE_INTEGER`` (2^53 - 1) unless ``unsafe()`` is set;
* ``Joi.string()`` refuses the empty string, and ``.trim()`` makes a whitespace-only id empty; JavaScript's
  whitespace (what ``String.prototype.trim`` removes) differs from Python's, so both sets count as blank here;
* ``min``/``max`` lengths count UTF-16 code units (``String.prototype.length``): an emoji counts 2, not 1;
* a body is UTF-8 JSON, which cannot carry a lone surrogate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from airflow_provider_hokusai.exceptions import InvalidModelReadyMessage

__all__ = [
    "JS_WHITESPACE",
    "MAX_SAFE_INTEGER",
    "NOT_BLANK_PATTERN",
    "SAFE_NUMBER_RULE",
    "deployer_text",
    "is_blank",
    "parse_tag_number",
]

#: ``Number.MAX_SAFE_INTEGER``: the largest number ``Joi.number()`` accepts without ``unsafe()``.
MAX_SAFE_INTEGER = 2**53 - 1
#: ECMAScript WhiteSpace and LineTerminator code points (ECMA-262 §12.2, §12.3): what ``trim()`` removes.
JS_WHITESPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
#: "Has a character that neither language deems whitespace", for the JSON Schema. Valid in ECMA-262 and Python
#: ``re`` alike: both ``\s`` sets plus what only the other language trims (U+FEFF; U+001C-U+001F, U+0085).
NOT_BLANK_PATTERN = r"[^\s\x1c-\x1f\x85\ufeff]"
SAFE_NUMBER_RULE = f"must be a JavaScript safe number: <= {MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER)"
_BLANK_RULE = "must not be blank (whitespace only); the deployer trims it to an empty string"
_SURROGATE_RULE = "must be valid Unicode text (no lone surrogate); the body is UTF-8 JSON"

# The JSON number grammar (RFC 8259 §6), ASCII digits only: float() would also take " 1", "1_0", "+1", "nan",
# "inf" and other scripts' digits, each a guess about what the registry meant.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _utf16_length(text: str) -> int:
    """Length of ``text`` as JavaScript counts it: UTF-16 code units, 2 for a character beyond U+FFFF."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def is_blank(text: str) -> bool:
    """True when ``text`` is empty or whitespace only, by Python's or JavaScript's definition of whitespace."""
    return all(char.isspace() or char in JS_WHITESPACE for char in text)


def deployer_text(max_units: int, *, not_blank: bool = False) -> Callable[[str], str]:
    """
    A pydantic after-validator: ``max_units`` UTF-16 code units at most, no lone surrogate, optionally not blank.

    :param max_units: The deployer's ``max()``; pydantic's own ``max_length`` counts code points, a looser bound.
    :param not_blank: For ids, which the deployer trims.
    """

    def check(value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(_SURROGATE_RULE) from None
        if _utf16_length(value) > max_units:
            raise ValueError(
                f"must be at most {max_units} UTF-16 code units (JavaScript string length, as the deployer counts)"
            )
        if not_blank and is_blank(value):
            raise ValueError(_BLANK_RULE)
        return value

    return check


def parse_tag_number(field: str, text: str) -> float:
    """
    A number read back from a registry tag, parsed strictly: a JSON number in ASCII, finite, nothing around it.

    The value itself is kept out of the error (tags may be written by anyone with registry access).

    :param field: The contract field the tag feeds, named in the error (e.g. ``"baseline_value"``).
    :param text: The tag's value.
    :raises InvalidModelReadyMessage: naming ``field``, when ``text`` is not such a number.
    """
    if not isinstance(text, str) or not _JSON_NUMBER.fullmatch(text):
        raise InvalidModelReadyMessage(
            [(field, "must be a JSON number in ASCII digits (e.g. 0.95, 1e-3) with no spaces, sign '+' or words")]
        )
    number = float(text)
    if not math.isfinite(number):
        raise InvalidModelReadyMessage([(field, "must be a finite number; the tag's number overflows a double")])
    return number

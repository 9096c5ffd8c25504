"""
The contract refuses everything Hokusai's token deployer refuses: accepted by the model ⇒ accepted by the deployer.

The deployer is a Node service validating with Joi. Its limits are encoded here a second time, independently of the
model (no pydantic, no regex engine, JavaScript semantics spelt out by hand), as :func:`deployer_violations`:

* ``Joi.number()`` without ``unsafe()``: a JSON number, finite, within ±``Number.MAX_SAFE_INTEGER`` (2^53 - 1); the
  contract adds ``> 0``.
* ``Joi.string()``: a string, never empty (``string.empty``); lengths (``min``/``max``) count UTF-16 code units,
  as JavaScript's ``String.prototype.length`` does, not code points.
* Ids (``model_id``, ``model_name``, ``model_version``, ``mlflow_run_id``) are ``.trim()``-med first: nothing but
  JavaScript whitespace (``String.prototype.trim``'s set) is blank, and refused.
* Tag values: non-empty strings; keys 1-128, values 1-1024 UTF-16 units; at most 50 tags.
* Patterns with JavaScript's ASCII-only classes; the timestamp a real calendar date.
* The body is UTF-8 JSON: a lone surrogate cannot be sent.

Hypothesis then draws inputs from the whole declared input space of the model — every field, every optional field
absent / present / null, numbers at and around every boundary, arbitrary Unicode (surrogates, astral characters,
whitespace of both languages), lengths around every limit — through both entry points (the builder and
``from_json``), and checks: refused ⇒ a typed :class:`InvalidModelReadyMessage` naming fields; accepted ⇒ the
deployer's encoding and the committed JSON Schema both accept the wire form.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import math
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from airflow_provider_hokusai.exceptions import InvalidModelReadyMessage
from airflow_provider_hokusai.messages import (
    ModelReadyToDeployMessage,
    build_model_ready_message,
    load_schema,
    message_id_for,
    parse_tag_number,
)

VALIDATOR = jsonschema.Draft202012Validator(load_schema())
JS_MAX_SAFE_INTEGER = 9007199254740991  # Number.MAX_SAFE_INTEGER, 2**53 - 1
# ECMAScript WhiteSpace and LineTerminator code points: what String.prototype.trim removes (ECMA-262 §12.2, §12.3).
JS_WHITESPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
ASCII_DIGITS = frozenset("0123456789")
IDS = ("model_id", "model_name", "model_version", "mlflow_run_id")
STRING_LIMITS = {  # field: (min, max) in UTF-16 code units
    "model_id": (1, 512),
    "metric_name": (1, 512),
    "model_name": (1, 512),
    "model_version": (1, 64),
    "mlflow_run_id": (1, 512),
    "experiment_name": (1, 512),
}
NUMBERS = ("baseline_value", "current_value", "improvement_percentage")
REQUIRED = {*STRING_LIMITS, *NUMBERS, "token_symbol", "timestamp", "message_version"} - {"experiment_name"}
OPTIONAL = {"experiment_name", "contributor_address", "tags"}


def js_length(text: str) -> int:
    """``String.prototype.length``: UTF-16 code units (an astral character counts 2)."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def js_trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and text[start] in JS_WHITESPACE:
        start += 1
    while end > start and text[end - 1] in JS_WHITESPACE:
        end -= 1
    return text[start:end]


def _is_safe_positive_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return math.isfinite(value) and 0 < value <= JS_MAX_SAFE_INTEGER


def _timestamp_ok(text: str) -> bool:
    # /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/ with JavaScript's ASCII \d, then a real date and time.
    head, frac = text[:19], text[19:]
    shape = "dddd-dd-ddTdd:dd:dd"
    if len(head) != 19 or not all(
        (c in ASCII_DIGITS) if s == "d" else c == s for s, c in zip(shape, head, strict=True)
    ):
        return False
    if not frac.endswith("Z"):
        return False
    fraction = frac[:-1]
    if fraction and not (fraction[0] == "." and 1 <= len(fraction) - 1 <= 6 and set(fraction[1:]) <= ASCII_DIGITS):
        return False
    year, month, day = int(head[0:4]), int(head[5:7]), int(head[8:10])
    hour, minute, second = int(head[11:13]), int(head[14:16]), int(head[17:19])
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return False
    return hour <= 23 and minute <= 59 and second <= 59


def _string_violations(wire: dict[str, Any]) -> list[str]:
    found = []
    for name, (low, high) in STRING_LIMITS.items():
        if name not in wire:
            continue
        value = wire[name]
        if not isinstance(value, str):
            found.append(f"{name}: string.base")
        elif not low <= js_length(value) <= high:
            found.append(f"{name}: string.min/max (UTF-16 units)")
        elif name in IDS and not js_trim(value):
            found.append(f"{name}: string.empty after trim")
    return found


def _tag_violations(tags: Any) -> list[str]:
    if not isinstance(tags, dict):
        return ["tags: object.base"]
    found = [] if len(tags) <= 50 else ["tags: object.max"]
    for key, value in tags.items():
        if not (isinstance(key, str) and 1 <= js_length(key) <= 128):
            found.append("tags: key length")
        if not isinstance(value, str) or value == "":
            found.append("tags: value string.empty / string.base")
        elif js_length(value) > 1024:
            found.append("tags: value string.max")
    return found


def deployer_violations(wire: dict[str, Any]) -> list[str]:
    """What the deployer's Joi schema would report for ``wire`` (empty: accepted). Independent of the model."""
    found = [f"{k}: any.required" for k in REQUIRED - wire.keys()]
    found += [f"{k}: object.unknown" for k in wire.keys() - REQUIRED - OPTIONAL]
    found += _string_violations(wire)
    for name in NUMBERS:
        if name in wire and not _is_safe_positive_number(wire[name]):
            found.append(f"{name}: number.base/positive/unsafe")
    symbol = wire.get("token_symbol")
    if not (
        isinstance(symbol, str)
        and 1 <= len(symbol) <= 10
        and set(symbol) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
    ):
        found.append("token_symbol: string.pattern")
    address = wire.get("contributor_address")
    hexdigits = set("0123456789abcdefABCDEF")
    if "contributor_address" in wire and not (
        isinstance(address, str) and len(address) == 42 and address[:2] == "0x" and set(address[2:]) <= hexdigits
    ):
        found.append("contributor_address: string.pattern")
    if not (isinstance(wire.get("timestamp"), str) and _timestamp_ok(wire["timestamp"])):
        found.append("timestamp: string.pattern / date")
    if wire.get("message_version") != "1.0":
        found.append("message_version: any.only")
    if "tags" in wire:
        found += _tag_violations(wire["tags"])
    return found


# --- the oracle itself, on known cases -------------------------------------------------------------------------


def good_wire(**changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "model_id": "m",
        "token_symbol": "HK",
        "metric_name": "accuracy",
        "baseline_value": 0.9,
        "current_value": 0.95,
        "model_name": "m",
        "model_version": "1",
        "mlflow_run_id": "r",
        "improvement_percentage": 5.0,
        "tags": {"message_id": message_id_for("m", "1")},
        "timestamp": "2026-01-01T00:00:00Z",
        "message_version": "1.0",
    }
    wire.update(changes)
    return wire


DEPLOYER_REFUSES = [
    pytest.param({"baseline_value": float(2**53)}, "baseline_value", id="unsafe-baseline"),
    pytest.param({"current_value": 1e300}, "current_value", id="unsafe-current"),
    pytest.param({"improvement_percentage": 9007199254740992.0}, "improvement_percentage", id="unsafe-improvement"),
    pytest.param({"tags": {"message_id": message_id_for("m", "1"), "team": ""}}, "tags", id="empty-tag-value"),
    pytest.param({"model_id": "   "}, "model_id", id="blank-model-id"),
    pytest.param({"model_id": "\u3000\ufeff"}, "model_id", id="js-blank-model-id"),
    pytest.param({"mlflow_run_id": "\t\n"}, "mlflow_run_id", id="blank-run-id"),
    pytest.param({"model_version": "\u00a0"}, "model_version", id="blank-version"),
    pytest.param({"model_id": "😀" * 257}, "model_id", id="utf16-too-long"),
    pytest.param({"model_version": "\U0001d7d9" * 33}, "model_version", id="utf16-version-too-long"),
    pytest.param({"timestamp": "\u0662\u0660\u0662\u0666-01-01T00:00:00Z"}, "timestamp", id="unicode-digits-timestamp"),
    pytest.param({"tags": {"message_id": message_id_for("m", "1"), "k": "é" * 1025}}, "tags", id="long-tag"),
]


@pytest.mark.parametrize(("change", "field"), DEPLOYER_REFUSES)
def test_what_the_deployer_refuses_the_contract_refuses(change: dict[str, Any], field: str) -> None:
    wire = good_wire(**change)
    if "model_version" in change:
        wire["tags"] = {"message_id": message_id_for("m", change["model_version"])}
    assert deployer_violations(wire), "the oracle must refuse this case"
    with pytest.raises(InvalidModelReadyMessage) as raised:
        ModelReadyToDeployMessage.from_json(json.dumps(wire))
    assert any(f == field or f.startswith(f"{field}.") for f in raised.value.fields), raised.value.fields


def test_boundaries_the_deployer_accepts_are_accepted() -> None:
    wire = good_wire(
        baseline_value=1.0,
        current_value=float(JS_MAX_SAFE_INTEGER),
        improvement_percentage=5e-324,
        model_id="x" * 512,
        model_version=" 1 ",
        experiment_name="😀" * 256,
    )
    wire["tags"] = {"message_id": message_id_for("m", " 1 "), "k" * 128: "v" * 1024}
    assert deployer_violations(wire) == []
    ModelReadyToDeployMessage.from_json(json.dumps(wire))
    VALIDATOR.validate(wire)


def kwargs_for_builder(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model_name": "m",
        "model_version": "1",
        "mlflow_run_id": "r",
        "token_symbol": "hk",
        "metric_name": "accuracy",
        "current_value": 0.95,
        "baseline_value": 0.9,
    }
    kwargs.update(changes)
    return kwargs


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(
            {"baseline_value": 1e-15, "current_value": 1.0}, "improvement_percentage", id="unsafe-improvement"
        ),
        pytest.param({"current_value": 1e17, "baseline_value": 1.0}, "current_value", id="unsafe-current"),
        pytest.param({"tags": {"team": ""}}, "tags", id="empty-tag-value"),
        pytest.param({"model_id": " "}, "model_id", id="blank-model-id"),
        pytest.param({"model_name": "\u2003"}, "model_name", id="blank-model-name"),
        pytest.param({"mlflow_run_id": "\n"}, "mlflow_run_id", id="blank-run-id"),
        pytest.param({"model_version": "  "}, "model_version", id="blank-version"),
        # str.upper() folds U+0131 (dotless i) to "I" and "ß" to "SS": a non-ASCII symbol must not become a valid one.
        pytest.param({"token_symbol": "\u0131d"}, "token_symbol", id="casefold-dotless-i"),
        pytest.param({"token_symbol": "ß"}, "token_symbol", id="casefold-sharp-s"),
        pytest.param({"model_name": "a\ud800"}, "model_name", id="lone-surrogate"),
        pytest.param({"tags": {"k": "\udfff"}}, "tags", id="lone-surrogate-tag"),
    ],
)
def test_builder_refuses_with_a_typed_error_naming_field_and_rule(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidModelReadyMessage) as raised:
        build_model_ready_message(**kwargs_for_builder(**change))
    assert any(f == field or f.startswith(f"{field}.") for f in raised.value.fields), str(raised.value)


def test_errors_state_the_deployers_rule() -> None:
    with pytest.raises(InvalidModelReadyMessage) as raised:
        build_model_ready_message(
            **kwargs_for_builder(current_value=1e17, baseline_value=1.0, model_id=" ", tags={"team": ""})
        )
    text = str(raised.value)
    assert "current_value: must be a JavaScript safe number" in text
    assert "model_id: must not be blank" in text
    assert "tags.team: " in text and "at least 1 character" in text


# --- strict parsing of numbers read back from registry tags ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"), [("0.9", 0.9), ("1", 1.0), ("1e-3", 0.001), ("2.5E+2", 250.0), ("-0.5", -0.5)]
)
def test_parse_tag_number_reads_json_numbers(text: str, number: float) -> None:
    assert parse_tag_number("baseline_value", text) == number


@pytest.mark.parametrize(
    "text",
    [
        "", " 0.9", "0.9 ", "0.9\n", "+0.9", ".9", "9.", "0x10", "1_000", "nan", "NaN", "inf", "-Infinity",
        "\u0660.\u0669", "\uff10.\uff19", "1e999", "0.9f", "1,5", "00.9",
    ],
)  # fmt: skip
def test_parse_tag_number_refuses_what_float_would_guess(text: str) -> None:
    with pytest.raises(InvalidModelReadyMessage) as raised:
        parse_tag_number("current_value", text)
    assert raised.value.fields == ["current_value"]
    assert repr(text) not in str(raised.value)  # the value itself stays out of the error


# --- property: the whole declared input space -------------------------------------------------------------------

_BOUNDARY_NUMBERS = [
    0.0, -0.0, 5e-324, 1e-300, 1.0, 2.0**53 - 1, 2.0**53, 2.0**53 + 2, 9007199254740991, 9007199254740992,
    1e16, 1e300, math.inf, -math.inf, math.nan, -1.0, True, False, 10**400,
]  # fmt: skip
# Every kind of character: ASCII, both languages' whitespace (JS-only \ufeff, Python-only \x1c-\x1f \x85), astral,
# lone surrogates, combining marks, digits of other scripts.
_CHARS = st.characters(codec=None) | st.sampled_from(
    [
        *JS_WHITESPACE,
        "\x1c",
        "\x1f",
        "\x85",
        "\x00",
        "😀",
        "\U0001d7d9",
        "\ud800",
        "\udfff",
        "\u0301",
        "\u0661",
        "\u0131",
        "ß",
    ]
)
_TEXT = st.text(_CHARS, max_size=12) | st.text(st.sampled_from(sorted(JS_WHITESPACE)), min_size=1, max_size=4)


def _around(limit: int) -> st.SearchStrategy[str]:
    """Strings of ``limit - 1 .. limit + 1`` characters, ASCII or astral (2 UTF-16 units each)."""
    return st.builds(
        lambda size, char: char * size,
        st.integers(min_value=max(limit // 2 - 1, 0), max_value=limit + 1),
        st.sampled_from(["x", "😀", "é", " "]),
    )


def _text_field(limit: int) -> st.SearchStrategy[Any]:
    # Non-empty text first (accepted unless blank or malformed), then lengths around the limit and non-strings.
    return st.text(_CHARS, min_size=1, max_size=12) | st.one_of(
        _TEXT, _around(limit), st.integers(min_value=-5, max_value=10**20), st.none()
    )


# Mostly positive numbers up to and around 2^53 (accepted or just not), plus every other kind of value.
_NUMBER = st.floats(min_value=5e-324, max_value=2.0**53 + 4) | st.one_of(
    st.sampled_from(_BOUNDARY_NUMBERS), st.floats(), st.integers(), st.just("0.9")
)
_TAG_KEYS = _TEXT | _around(128)
_TAG_VALUES = _TEXT | _around(1024) | st.just("") | st.integers(max_value=3)
_TAGS = st.dictionaries(_TAG_KEYS, _TAG_VALUES, max_size=4) | st.builds(
    lambda n: {f"k{i}": "v" for i in range(n)}, st.integers(min_value=48, max_value=52)
)
_SYMBOLS = st.from_regex(r"\A[A-Za-z0-9-]{0,11}\Z") | _TEXT
_ADDRESSES = st.from_regex(r"\A0x[a-fA-F0-9]{39,41}\Z") | _TEXT
_TIMESTAMPS = (
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    | st.from_regex(r"\A[0-9\u0661]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?Z?\Z")
    | _TEXT
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model_id": _text_field(512),
    "token_symbol": _SYMBOLS,
    "metric_name": _text_field(512),
    "baseline_value": _NUMBER,
    "current_value": _NUMBER,
    "model_name": _text_field(512),
    "model_version": _text_field(64),
    "mlflow_run_id": _text_field(512),
    "improvement_percentage": _NUMBER,
    "contributor_address": _ADDRESSES,
    "experiment_name": _text_field(512),
    "tags": _TAGS,
    "timestamp": _TIMESTAMPS,
    "message_version": st.sampled_from(["1.0", "1.1", ""]),
}
_ABSENT = object()


def _check_accepted(message: ModelReadyToDeployMessage) -> None:
    wire = json.loads(message.to_json())
    assert deployer_violations(wire) == [], (deployer_violations(wire), wire)
    VALIDATOR.validate(wire)
    assert ModelReadyToDeployMessage.from_json(message.to_json()) == message


@settings(max_examples=600, suppress_health_check=list(HealthCheck), deadline=None)
@given(data=st.data(), vary=st.sets(st.sampled_from(sorted(FIELDS)), max_size=2))
@example(data=None, vary=set())
def test_from_json_over_the_whole_input_space(data: st.DataObject | None, vary: set[str]) -> None:
    """A few fields drawn from their whole space (absent included), the others valid: no bad field hides another."""
    payload = good_wire()
    if data is not None:
        for name in sorted(vary):
            value = data.draw(st.just(_ABSENT) | FIELDS[name], label=name)
            if value is _ABSENT:
                payload.pop(name, None)
            else:
                payload[name] = value
        if isinstance(payload.get("tags"), dict) and data.draw(st.booleans(), label="message_id"):
            with contextlib.suppress(KeyError, TypeError):
                payload["tags"]["message_id"] = message_id_for(payload["model_name"], payload["model_version"])
    try:
        message = ModelReadyToDeployMessage.from_json(payload)
    except InvalidModelReadyMessage as exc:
        assert exc.fields
        event(f"refused: {sorted({f.split('.')[0] for f in exc.fields})}")
        return
    event("accepted")
    _check_accepted(message)


@settings(max_examples=600, suppress_health_check=list(HealthCheck), deadline=None)
@given(data=st.data())
def test_builder_over_the_whole_input_space(data: st.DataObject) -> None:
    kwargs = kwargs_for_builder()
    for name in (
        "model_name", "model_version", "mlflow_run_id", "token_symbol", "metric_name", "current_value",
        "baseline_value", "model_id", "contributor_address", "experiment_name", "tags", "timestamp",
    ):  # fmt: skip
        if data.draw(st.integers(0, 5), label=f"vary {name}") == 0:
            strategy = FIELDS.get(name, _TIMESTAMPS)
            kwargs[name] = data.draw(strategy | st.none(), label=name)
    kwargs["direction"] = data.draw(st.sampled_from([None, "higher", "lower"]), label="direction")
    try:
        message = build_model_ready_message(**kwargs)
    except InvalidModelReadyMessage as exc:
        assert exc.fields
        event(f"refused: {sorted({f.split('.')[0] for f in exc.fields})}")
        return
    event("accepted")
    _check_accepted(message)

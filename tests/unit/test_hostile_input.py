"""
Hostile input on every parser of untrusted bytes, property-based: a typed refusal or a success, never another
exception, never a secret in what comes out. Signed message bodies, webhook deliveries, the Hokusai page's query,
``hokusai-reconcile``'s bounds, ``redact_text`` and the API server's log filter (the served surfaces are in
``tests/integration/test_hostile_surfaces.py``).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import string
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from airflow_provider_hokusai.cli.reconcile import MAX_VERSIONS_LIMIT, build_parser
from airflow_provider_hokusai.exceptions import (
    InvalidInputError,
    InvalidModelReadyMessage,
    WebhookRejected,
)
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from airflow_provider_hokusai.plugins.log_redaction import install_log_redaction
from airflow_provider_hokusai.plugins.ui_rows import VersionQuery, search_filter
from airflow_provider_hokusai.registry import events as wh
from airflow_provider_hokusai.signing import compute_signature, sign_model_ready, signing_key, verify_model_ready
from airflow_provider_hokusai.utils.redaction import mask_secrets, redact_text

SECRET = "hostile-Signing-Secret-0123456789abcdef"
WEBHOOK_SECRET = "hostile-Webhook-Secret-9f8e7d6c"
KEY = signing_key("k-hostile", SECRET)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGNED = json.loads(
    sign_model_ready(
        build_model_ready_message(
            model_name="m",
            model_version=1,
            mlflow_run_id="r",
            token_symbol="TOK",
            metric_name="accuracy",
            current_value=0.95,
            baseline_value=0.9,
        ),
        KEY,
    ).to_json()
)

scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


@st.composite
def message_bodies(draw: st.DrawFn) -> bytes:
    """The signed message with one field replaced (re-signed when it can be), or a poison body around it."""
    payload: dict[str, Any] = json.loads(json.dumps(SIGNED))
    shape = draw(st.sampled_from(["field", "long_int", "deep", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=300))
    field = draw(st.sampled_from([*payload, "extra"] if shape == "field" else list(payload)))
    if shape == "field":
        payload[field] = draw(json_values)
        with contextlib.suppress(InvalidModelReadyMessage):
            payload["tags"] = {"key_id": KEY.key_id}
            payload["tags"]["signature"] = compute_signature(payload, KEY)
        return json.dumps(payload, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    text = json.dumps(payload)
    if shape == "long_int":
        poison = ("-" if draw(st.booleans()) else "") + "7" * draw(st.integers(4290, 6000))
    else:
        poison = nested(draw(st.integers(1, 5000)), draw(st.sampled_from(["array", "object"])))
    return text.replace(f'"{field}": {json.dumps(payload[field])}', f'"{field}": {poison}', 1).encode()


@FAST
@given(body=message_bodies(), require=st.booleans(), as_text=st.booleans())
def test_any_message_body_is_a_typed_refusal_or_a_message(body: bytes, require: bool, as_text: bool) -> None:
    received: str | bytes = body.decode("utf-8", "surrogateescape") if as_text else body
    for parse in (
        lambda: verify_model_ready(received, [KEY], require_signature=require),
        lambda: ModelReadyToDeployMessage.from_json(received),
    ):
        try:
            assert isinstance(parse(), ModelReadyToDeployMessage)
        except InvalidModelReadyMessage as exc:
            assert exc.errors and SECRET not in f"{exc}{exc!r}"


@pytest.mark.parametrize("signed", [True, False])
def test_the_issue_poison_body_a_very_long_integer_is_typed(signed: bool) -> None:
    tags = f'{{"key_id": "{KEY.key_id}", "signature": "{SIGNED["tags"]["signature"]}"}}' if signed else "{}"
    body = f'{{"tags": {tags}, "baseline_value": {"9" * 4301}}}'
    with pytest.raises(InvalidModelReadyMessage, match="number too long"):
        verify_model_ready(body, [KEY], require_signature=False)


def test_nesting_within_the_parser_but_past_the_canonical_form_is_typed() -> None:
    # 400 levels parse (the C parser's limit is about 1000) but used to exceed the recursion limit when signed.
    body = json.dumps({**SIGNED, "extra": None}).replace("null", nested(400, "array"))
    with pytest.raises(InvalidModelReadyMessage, match="at most 32 deep"):
        verify_model_ready(body, [KEY])


@st.composite
def webhook_bodies(draw: st.DrawFn) -> bytes:
    shape = draw(st.sampled_from(["json", "event", "deep", "long_int", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=300))
    if shape == "json":
        return json.dumps(draw(json_values)).encode("utf-8", "surrogatepass")
    data: Any = draw(st.dictionaries(st.sampled_from(["name", "version", "key", "x"]), json_values, max_size=4))
    if shape == "deep":
        data = nested(draw(st.integers(1, 100_000)), draw(st.sampled_from(["array", "object"])))
    elif shape == "long_int":
        data = '{"name": "m", "version": ' + "1" * draw(st.integers(4290, 6000)) + "}"
    else:
        data = json.dumps(data)
    action = draw(st.sampled_from(["model_version.created", "model_version_tag.set", "x.y"])).split(".")
    return f'{{"entity": "{action[0]}", "action": "{action[1]}", "data": {data}}}'.encode()


def signed_headers(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        wh.SIGNATURE_HEADER: wh.sign(secret, "delivery-1", timestamp, body),
        wh.TIMESTAMP_HEADER: timestamp,
        wh.DELIVERY_ID_HEADER: "delivery-1",
    }


@FAST
@given(body=webhook_bodies())
def test_any_signed_webhook_body_is_an_event_or_a_typed_400(body: bytes) -> None:
    try:
        event = wh.verify_delivery(signed_headers(body), body, [WEBHOOK_SECRET], time.time())
    except WebhookRejected as exc:
        assert exc.http_status == 400 and WEBHOOK_SECRET not in str(exc)
    else:
        assert event.delivery_id == "delivery-1"


@FAST
@given(
    headers=st.dictionaries(st.sampled_from([*signed_headers(b""), "x"]), st.text(max_size=60)),
    body=st.binary(max_size=50),
)
def test_any_headers_are_a_typed_refusal_or_verified(headers: dict[str, str], body: bytes) -> None:
    try:
        wh.verify_delivery(headers, body, [WEBHOOK_SECRET], time.time())
    except WebhookRejected as exc:
        assert exc.http_status in (400, 401) and WEBHOOK_SECRET not in str(exc)


@pytest.mark.parametrize("kind", ["array", "object"])
def test_the_issue_deep_webhook_body_is_a_typed_400(kind: str) -> None:
    for body in (
        nested(100_000, kind).encode(),
        f'{{"entity": "e", "action": "a", "data": {nested(3000, kind)}}}'.encode(),
    ):
        with pytest.raises(WebhookRejected) as caught:
            wh.verify_delivery(signed_headers(body), body, [WEBHOOK_SECRET], time.time())
        assert caught.value.http_status == 400


mlflow_tokens = st.one_of(
    st.text(max_size=40),
    json_values.map(lambda value: base64.b64encode(json.dumps(value).encode("utf-8", "surrogatepass")).decode()),
    st.integers(-(10**25), 10**25).map(lambda n: base64.b64encode(json.dumps({"offset": n}).encode()).decode()),
)


@FAST
@given(model=st.text(max_size=80) | st.text(max_size=20).map(lambda name: f"{name}'\"{name}"))
def test_any_model_name_is_refused_by_pydantic_or_becomes_a_filter(model: str) -> None:
    try:
        query = VersionQuery(model=model)
    except ValidationError as exc:
        assert exc.errors()
        return
    if query.model is None:  # blank
        assert search_filter(query) == ""
    else:
        assert search_filter(query).startswith("name LIKE '" if "'" in model and '"' in model else "name = ")


@FAST
@given(token=mlflow_tokens, size=st.text(max_size=6) | st.integers().map(str))
def test_any_page_token_and_size_are_refused_by_pydantic_or_read(token: str, size: str) -> None:
    try:
        query = VersionQuery(page_token=token, page_size=size)  # type: ignore[arg-type]
    except ValidationError as exc:
        assert exc.errors()
        return
    assert 1 <= query.page_size <= 100


@FAST
@given(
    text=st.integers(-(10**7), 10**7).map(str) | st.text(max_size=30) | st.integers(4000, 5000).map(lambda n: "9" * n)
)
def test_max_versions_is_in_bounds_or_refused_in_one_line(text: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser().parse_args(["--queue-conn-id", "q", f"--max-versions={text}"])
        except SystemExit as exc:
            assert exc.code == 2
            assert err.getvalue().splitlines() == [
                f"hokusai-reconcile: error: argument --max-versions: must be an integer from 1 to {MAX_VERSIONS_LIMIT}"
            ]
            return
    assert 1 <= args.max_versions <= MAX_VERSIONS_LIMIT and err.getvalue() == ""


def test_the_issue_negative_bound_exits_2() -> None:
    with pytest.raises(SystemExit) as caught, contextlib.redirect_stderr(io.StringIO()):
        build_parser().parse_args(["--queue-conn-id", "q", "--max-versions=-1"])
    assert caught.value.code == 2


def provider_rule_errors() -> list[InvalidInputError]:
    found: list[InvalidInputError] = []
    for attempt in (
        lambda: wh.secrets_from("short", {"previous_secrets": [3]}),
        lambda: wh.secrets_from(None, {}),
        lambda: signing_key("k", "short"),
        lambda: verify_model_ready("{}", [KEY]),
    ):
        with pytest.raises(InvalidInputError) as caught:
            attempt()
        found.append(caught.value)
    return found


def test_rule_texts_survive_redaction() -> None:
    errors = provider_rule_errors()
    assert len(errors) == 4
    for exc in errors:
        assert "***" not in redact_text(str(exc)), str(exc)
        assert redact_text(str(exc)) == str(exc)


PROSE = {"must", "missing", "expected", "unknown", "appears", "cannot", "should", "needs", "field", "input"}


@FAST
@given(
    key=st.sampled_from(["password", "token", "api_key", "x-amz-security-token", "client_secret", "Signature"]),
    sep=st.sampled_from([": ", "=", ":", " = ", "': '", '": "']),
    secret=st.text(string.ascii_letters + string.digits + "-_./+=!@#$%^*~", min_size=8, max_size=40),
    after=st.sampled_from(["", " and more", "; next", ", x", "&y=1"]),
)
def test_one_word_secrets_after_a_secret_key_are_masked(key: str, sep: str, secret: str, after: str) -> None:
    assume(secret.lower() not in PROSE)
    assert secret not in redact_text(f"failed with {key}{sep}{secret}{after}")


@pytest.fixture
def log_output() -> Any:
    """A handler on the root logger (as the API server's is) before the filter is installed; removed after."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    install_log_redaction()
    yield stream
    root.removeHandler(handler)


def test_a_registered_secret_logged_by_a_logger_created_later_is_masked(log_output: io.StringIO) -> None:
    registered = f"registered-{uuid.uuid4().hex}"
    mask_secrets([registered])
    late = logging.getLogger(f"airflow.task.hooks.airflow_provider_hokusai.hooks.late_{uuid.uuid4().hex}")
    late.setLevel(logging.DEBUG)
    late.warning("connecting with %s to redis://u:%s@h:1", registered, "Uri-Pa55-99")
    try:
        raise RuntimeError(f"token={registered}")
    except RuntimeError:
        late.exception("failed")
    logging.getLogger("not.covered.by.hokusai").warning("untouched password=%s", "visible-1")
    text = log_output.getvalue()
    assert registered not in text and "Uri-Pa55-99" not in text
    assert "connecting with *** to redis://***@h:1" in text
    assert "RuntimeError: token=***" in text
    assert "untouched password=visible-1" in text


@FAST
@given(msg=st.text(max_size=40), args=st.lists(scalars, max_size=3))
def test_the_log_filter_never_raises_nor_drops(msg: str, args: list[Any]) -> None:
    record = logging.LogRecord("botocore.endpoint", logging.DEBUG, __file__, 1, msg, tuple(args), None)
    assert install_log_redaction().filter(record) is True
    assert isinstance(record.getMessage(), str)

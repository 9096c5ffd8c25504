from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidModelReadyMessage
from airflow_provider_hokusai.gate.baseline import Direction, infer_direction
from airflow_provider_hokusai.messages import (
    ModelReadyToDeployMessage,
    build_model_ready_message,
    load_schema,
    message_id_for,
)
from airflow_provider_hokusai.messages.limits import is_blank
from airflow_provider_hokusai.messages.schema import render_schema

VALIDATOR = jsonschema.Draft202012Validator(load_schema())
REQUIRED = {
    "model_id",
    "token_symbol",
    "metric_name",
    "baseline_value",
    "current_value",
    "model_name",
    "model_version",
    "mlflow_run_id",
    "improvement_percentage",
    "timestamp",
    "message_version",
}


def valid_kwargs(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model_name": "churn-classifier",
        "model_version": "7",
        "mlflow_run_id": "0123456789abcdef",
        "token_symbol": "churn",
        "metric_name": "accuracy",
        "current_value": 0.93,
        "baseline_value": 0.9,
    }
    kwargs.update(overrides)
    return kwargs


def test_committed_schema_matches_model() -> None:
    from airflow_provider_hokusai.messages import SCHEMA_PATH

    assert SCHEMA_PATH.read_text() == render_schema(), (
        "the committed schema drifted from the model; run `python -m airflow_provider_hokusai.messages`"
    )


def test_schema_is_flat_closed_and_requires_the_contract_fields() -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == REQUIRED
    assert set(schema["properties"]) == REQUIRED | {"contributor_address", "experiment_name", "tags"}
    for name, prop in schema["properties"].items():
        assert "null" not in json.dumps(prop.get("type")), f"{name} must not allow null"


def test_build_higher_is_better() -> None:
    message = build_model_ready_message(**valid_kwargs())
    data = message.to_dict()
    VALIDATOR.validate(data)
    assert data["token_symbol"] == "CHURN"
    assert data["model_id"] == "churn-classifier"
    assert data["improvement_percentage"] == pytest.approx((0.93 - 0.9) / 0.9 * 100)
    assert data["message_version"] == "1.0"
    assert data["tags"] == {"message_id": message_id_for("churn-classifier", "7")}
    assert data["timestamp"].endswith("Z")
    assert "contributor_address" not in data and "experiment_name" not in data


def test_build_lower_is_better_is_direction_aware() -> None:
    message = build_model_ready_message(**valid_kwargs(metric_name="val_rmse", current_value=0.8, baseline_value=1.0))
    assert message.improvement_percentage == pytest.approx(20.0)
    with pytest.raises(InvalidModelReadyMessage, match="improvement_percentage"):
        build_model_ready_message(**valid_kwargs(metric_name="log_loss", current_value=1.2, baseline_value=1.0))


def test_explicit_direction_overrides_inference() -> None:
    message = build_model_ready_message(
        **valid_kwargs(metric_name="latency_ms", current_value=80.0, baseline_value=100.0, direction="lower")
    )
    assert message.improvement_percentage == pytest.approx(20.0)


def test_message_id_is_deterministic_per_version() -> None:
    first = build_model_ready_message(**valid_kwargs(timestamp="2026-01-01T00:00:00Z"))
    again = build_model_ready_message(**valid_kwargs(timestamp="2026-06-01T00:00:00Z", current_value=0.99))
    other = build_model_ready_message(**valid_kwargs(model_version="8"))
    assert first.message_id == again.message_id == first.tags["message_id"]  # type: ignore[index]
    assert other.message_id != first.message_id
    assert message_id_for("m", 3) == message_id_for("m", "3")


def test_round_trip_through_json_is_identity() -> None:
    message = build_model_ready_message(
        **valid_kwargs(
            contributor_address="0x" + "aB" * 20,
            experiment_name="churn",
            tags={"team": "growth"},
            model_id="churn",
        )
    )
    assert ModelReadyToDeployMessage.from_json(message.to_json()) == message
    assert ModelReadyToDeployMessage.from_json(message.to_dict()) == message


def test_timestamp_from_aware_datetime_is_utc_z() -> None:
    when = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    message = build_model_ready_message(**valid_kwargs(timestamp=when))
    assert message.timestamp == "2026-05-01T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"token_symbol": "TOO-LONG-SYMB"}, "token_symbol"),
        ({"token_symbol": "AB_C"}, "token_symbol"),
        ({"token_symbol": ""}, "token_symbol"),
        ({"baseline_value": 0}, "baseline_value"),
        ({"baseline_value": -1.0}, "baseline_value"),
        ({"current_value": math.nan}, "current_value"),
        ({"current_value": math.inf}, "current_value"),
        ({"baseline_value": -math.inf}, "baseline_value"),
        ({"current_value": 0.5}, "improvement_percentage"),
        ({"contributor_address": "0x123"}, "contributor_address"),
        ({"contributor_address": "0x" + "g" * 40}, "contributor_address"),
        ({"model_name": ""}, "model_name"),
        ({"mlflow_run_id": ""}, "mlflow_run_id"),
        ({"model_version": ""}, "model_version"),
        ({"metric_name": ""}, "metric_name"),
        ({"timestamp": "2026-01-01 00:00:00"}, "timestamp"),
        ({"timestamp": "2026-13-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": datetime(2026, 1, 1)}, "timestamp"),
        ({"tags": {"k": 1}}, "tags.k"),
        ({"tags": {"k" * 200: "v"}}, "tags"),
        ({"tags": {f"k{i}": "v" for i in range(60)}}, "tags"),
        ({"tags": {"message_id": "not-the-id"}}, "tags"),
    ],
)
def test_build_refuses_each_broken_rule(override: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidModelReadyMessage) as info:
        build_model_ready_message(**valid_kwargs(**override))
    assert any(f == field or f.startswith(field) for f in info.value.fields), str(info.value)
    assert isinstance(info.value, HokusaiPermanentError)


def test_error_names_every_failing_field() -> None:
    with pytest.raises(InvalidModelReadyMessage) as info:
        build_model_ready_message(**valid_kwargs(token_symbol="bad symbol", baseline_value=-2, model_name=""))
    assert {"token_symbol", "baseline_value", "model_name"} <= set(info.value.fields)
    assert "token_symbol: String should match pattern" in str(info.value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(unexpected="x"),
        lambda d: d.update(contributor_address=None),
        lambda d: d.update(message_version="1.1"),
        lambda d: d.update(baseline_value="0.9"),
        lambda d: d.update(current_value=True),
        lambda d: d.pop("timestamp"),
        lambda d: d.update(tags=None),
    ],
)
def test_from_json_rejects_what_the_schema_rejects(mutate: Any) -> None:
    data = build_model_ready_message(**valid_kwargs()).to_dict()
    mutate(data)
    assert not VALIDATOR.is_valid(data)
    with pytest.raises(InvalidModelReadyMessage):
        ModelReadyToDeployMessage.from_json(json.dumps(data))


def test_message_is_frozen() -> None:
    message = build_model_ready_message(**valid_kwargs())
    with pytest.raises(Exception, match="frozen"):
        message.token_symbol = "OTHER"  # type: ignore[misc]


# --- property-based: everything the package builds is valid, everything invalid is refused -------------------

symbols = st.from_regex(r"\A[A-Za-z0-9-]{1,10}\Z")
# Non-blank: the deployer trims names and ids (see test_deployer_limits.py for the whole input space).
names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40).filter(lambda s: not is_blank(s))
positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
metric_names = st.sampled_from(["accuracy", "auroc", "f1", "r2", "mse", "val_rmse", "mae", "log_loss", "huber_loss"])
addresses = st.none() | st.from_regex(r"\A0x[a-fA-F0-9]{40}\Z")
# Tag values are non-empty strings: the deployer's Joi.string() refuses "".
tag_dicts = st.none() | st.dictionaries(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=40), max_size=5)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    model_name=names,
    model_version=st.integers(min_value=1, max_value=10**6) | st.from_regex(r"\A[0-9]{1,6}\Z"),
    run_id=names,
    token=symbols,
    metric=metric_names,
    baseline=positive,
    factor=st.floats(min_value=0.01, max_value=10, allow_nan=False),
    address=addresses,
    tags=tag_dicts,
    when=times,
)
def test_every_built_message_validates_against_committed_schema(
    model_name: str,
    model_version: int | str,
    run_id: str,
    token: str,
    metric: str,
    baseline: float,
    factor: float,
    address: str | None,
    tags: dict[str, str] | None,
    when: datetime,
) -> None:
    current = baseline * factor
    assume(current > 0 and math.isfinite(current))
    if tags:
        tags.pop("message_id", None)
    direction = infer_direction(metric)
    better = current > baseline if direction is Direction.HIGHER_IS_BETTER else current < baseline
    kwargs = {
        "model_name": model_name,
        "model_version": model_version,
        "mlflow_run_id": run_id,
        "token_symbol": token,
        "metric_name": metric,
        "current_value": current,
        "baseline_value": baseline,
        "contributor_address": address,
        "tags": tags,
        "timestamp": when,
    }
    if not better:
        with pytest.raises(InvalidModelReadyMessage, match="improvement_percentage"):
            build_model_ready_message(**kwargs)
        return
    message = build_model_ready_message(**kwargs)
    wire = json.loads(message.to_json())
    VALIDATOR.validate(wire)
    assert wire["token_symbol"] == token.upper()
    assert wire["improvement_percentage"] > 0
    assert all(v is not None for v in wire.values())
    assert ModelReadyToDeployMessage.from_json(message.to_json()) == message


_BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "token_symbol": st.text(min_size=11, max_size=15) | st.from_regex(r"\A.*[^A-Za-z0-9-].*\Z") | st.just(""),
    "baseline_value": st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf]) | st.floats(max_value=0),
    "current_value": st.sampled_from([0.0, -5.0, math.nan, math.inf]) | st.floats(max_value=0),
    "contributor_address": st.text(max_size=45).filter(lambda s: not s.startswith("0x") or len(s) != 42),
    "model_name": st.just(""),
    "mlflow_run_id": st.just("") | st.integers(),
    "metric_name": st.just("") | st.none(),
    "timestamp": st.text(max_size=30).filter(lambda s: not s.endswith("Z")),
    "tags": st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), min_size=1, max_size=3),
}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), field=st.sampled_from(sorted(_BAD_VALUES)))
def test_every_invalid_input_is_refused_with_the_typed_error(data: st.DataObject, field: str) -> None:
    bad = data.draw(_BAD_VALUES[field])
    kwargs = valid_kwargs(**{field: bad})
    with pytest.raises(InvalidModelReadyMessage) as info:
        build_model_ready_message(**kwargs)
    reported = " ".join(info.value.fields)
    assert field in reported or (field.endswith("_value") and "improvement_percentage" in reported), str(info.value)

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hokusai.exceptions import InvalidModelReadyMessage
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from hokusai_examples.consumer import bodies_from_asset_events, load_deployed, plan_deployments


def body(version: str, model: str = "m") -> str:
    return build_model_ready_message(
        model_name=model,
        model_version=version,
        mlflow_run_id="r",
        token_symbol="tok",
        metric_name="accuracy",
        current_value=0.95,
        baseline_value=0.9,
    ).to_json()


def test_newest_version_per_model_id_wins() -> None:
    plan = plan_deployments([body("1"), body("3"), body("2"), body("1", model="other")])
    assert [(m.model_id, m.model_version) for m in plan.deploy] == [("m", "3"), ("other", "1")]
    assert sorted(d["model_version"] for d in plan.duplicates) == ["1", "2"]


def test_already_deployed_versions_are_duplicates() -> None:
    plan = plan_deployments([body("2"), body("3")], deployed={"m": "3"})
    assert plan.deploy == []
    assert len(plan.duplicates) == 2


def test_invalid_messages_are_rejected_with_reason() -> None:
    plan = plan_deployments(['{"model_id": "m"}', "not json", body("1")])
    assert len(plan.deploy) == 1
    assert len(plan.rejected) == 2
    assert "token_symbol" in plan.rejected[0]["reason"]


def test_bodies_from_sqs_and_redis_events() -> None:
    sqs_event = SimpleNamespace(extra={"payload": {"message_batch": [{"Body": "a"}, {"Body": "b"}]}})
    redis_event = SimpleNamespace(extra={"payload": {"data": "c"}})
    assert bodies_from_asset_events([sqs_event, redis_event, {"payload": "d"}]) == ["a", "b", "c", "d"]


def test_load_deployed() -> None:
    assert load_deployed(None) == {}
    assert load_deployed('{"m": 3}') == {"m": "3"}


def test_apply_deployments_records_the_planned_versions_only() -> None:
    from hokusai_examples.consumer import apply_deployments

    bodies = [body("3", model="a"), body("1", model="b"), body("2", model="a")]
    plan = plan_deployments(bodies, {"a": "1", "c": "9"}).to_dict()

    done, record = apply_deployments(plan, {"a": "1", "c": "9"})

    assert done == [{"model_id": "a", "model_version": "3"}, {"model_id": "b", "model_version": "1"}]
    assert record == {"a": "3", "b": "1", "c": "9"}


# --- issue 11 item 8: never crashes on contract-valid input; malformed bodies rejected one by one ----------------

# Version strings the contract accepts (non-blank, <= 64 UTF-16 units) that broke int(): other scripts' digits that
# str.isdigit() accepts but int() refuses ("²"), dotted and prefixed versions, leading zeros.
ODD_VERSIONS = ["1.0", "v2", "\u0661", "\u00b2", "10", "9", "01", "007", " 3", "3 ", "\U0001d7d9", "1e3", "-1", "x"]


@pytest.mark.parametrize("version", ODD_VERSIONS)
def test_contract_valid_versions_never_crash_the_plan(version: str) -> None:
    plan = plan_deployments([body(version), body("2"), "not json", body(version, model="solo")], {"m": "1"})
    assert len(plan.rejected) == 1
    assert [m.model_id for m in plan.deploy] == sorted({m.model_id for m in plan.deploy})
    assert "solo" in [m.model_id for m in plan.deploy]


def _versions() -> st.SearchStrategy[str]:
    chars = st.characters(codec="utf-8")
    return st.sampled_from(ODD_VERSIONS) | st.from_regex(r"\A[0-9]{1,20}\Z") | st.text(chars, min_size=1, max_size=8)


def _contract_body(model: str, version: str) -> str | None:
    try:
        return build_model_ready_message(
            model_name=model, model_version=version, mlflow_run_id="r", token_symbol="tok",
            metric_name="accuracy", current_value=0.95, baseline_value=0.9,
        ).to_json()  # fmt: skip
    except InvalidModelReadyMessage:
        return None  # not in the contract's input space: the producer cannot send it


_MALFORMED = st.one_of(
    st.text(max_size=30),
    st.just("null"),
    st.just("[]"),
    st.just('{"model_id": null}'),
    st.just('{"model_version": 1e999}'),
    st.builds(lambda v: json.dumps({"model_version": v}), st.integers() | st.floats(allow_nan=True)),
    st.just("\ud800"),
)


@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
@given(
    valid=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), _versions()), max_size=8),
    malformed=st.lists(_MALFORMED, max_size=4),
    deployed=st.dictionaries(st.sampled_from(["a", "b", "z"]), _versions(), max_size=3),
    data=st.data(),
)
def test_plan_never_crashes_over_the_contracts_input_space(
    valid: list[tuple[str, str]], malformed: list[str], deployed: dict[str, str], data: st.DataObject
) -> None:
    from hokusai_examples.consumer import apply_deployments, version_key

    bodies = [b for b in (_contract_body(m, v) for m, v in valid) if b is not None]
    mixed = data.draw(st.permutations(bodies + malformed))

    plan = plan_deployments(mixed, deployed)

    # Each body accounted for once: deployed, skipped as a duplicate, or rejected on its own.
    assert len(plan.deploy) + len(plan.duplicates) + len(plan.rejected) == len(mixed)
    assert len(plan.rejected) == sum(1 for b in malformed if _is_malformed(b))
    for message in plan.deploy:
        versions = [ModelReadyToDeployMessage.from_json(b).model_version for b in bodies]
        same_model = [v for b, v in zip(bodies, versions, strict=True) if json.loads(b)["model_id"] == message.model_id]
        assert version_key(message.model_version) == max(version_key(v) for v in same_model)
        if message.model_id in deployed:
            assert version_key(message.model_version) > version_key(deployed[message.model_id])
    _, record = apply_deployments(plan.to_dict(), deployed)
    for model_id, version in deployed.items():
        assert version_key(record[model_id]) >= version_key(version)  # only forward


def _is_malformed(text: str) -> bool:
    try:
        ModelReadyToDeployMessage.from_json(text)
    except (InvalidModelReadyMessage, ValueError, UnicodeError):
        return True
    return False


def test_bodies_from_odd_events_never_crash() -> None:
    events: list[Any] = [
        {"payload": {"message_batch": [{"Body": "a"}, "b", None, {"NoBody": 1}]}},
        {"payload": {"message_batch": None}},
        {"payload": {"data": b"c"}},
        {"payload": None},
        None,
        {"payload": b"\xff"},
        {"payload": math.nan},
    ]
    bodies = bodies_from_asset_events(events)
    assert bodies[:2] == ["a", "b"] and "c" in bodies
    assert all(isinstance(b, str) for b in bodies)


# --- issue 11 item 9: the deployed record only moves forward ---------------------------------------------------


def test_a_stale_run_cannot_move_the_record_backwards() -> None:
    from hokusai_examples.consumer import apply_deployments, merge_deployed

    stale_plan = plan_deployments([body("1")], {}).to_dict()  # run for v1 read the record before any write
    fresh_plan = plan_deployments([body("2")], {}).to_dict()
    _, after_v2 = apply_deployments(fresh_plan, {})
    assert after_v2 == {"m": "2"}

    done, record = apply_deployments(stale_plan, after_v2)  # the stale run's deploy step, on the current record

    assert done == [] and record == {"m": "2"}
    # And a writer that computed its record from an older read is merged per model, never backwards.
    assert merge_deployed({"m": "2", "x": "1"}, {"m": "1", "y": "5"}) == {"m": "2", "x": "1", "y": "5"}
    assert merge_deployed({"m": "9"}, {"m": "10"}) == {"m": "10"}

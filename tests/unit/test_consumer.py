from __future__ import annotations

from types import SimpleNamespace

from airflow_provider_hokusai.messages import build_model_ready_message
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

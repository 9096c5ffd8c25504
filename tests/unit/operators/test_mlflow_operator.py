"""RegisterModelOperator pieces that need no server: input validation, evidence parsing, the READY wait (fake
registry client) and the extra link. The real registration is in tests/integration/operators."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import (
    HokusaiPermanentError,
    HokusaiRetryableError,
    InvalidInputError,
    ModelRegistrationError,
    ModelRegistrationTimeout,
)
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.links import MODEL_VERSION_URL_XCOM_KEY, MLflowModelVersionLink
from airflow_provider_hokusai.operators.mlflow import RegisterModelOperator
from airflow_provider_hokusai.registry import tags
from airflow_provider_hokusai.registry.registration import parse_evidence
from airflow_provider_hokusai.registry.stores import MLflowStores
from hokusai_testkit.registry import FakeMLflowRegistry

EVIDENCE = {
    "run_id": "r1",
    "experiment_id": "1",
    "experiment_name": "exp",
    "metric_name": "val_rmse",
    "current_value": 0.8,
    "baseline_value": 1.0,
    "baseline_source": "alias:champion",
    "direction": "lower_is_better",
    "improvement_percentage": 20.0,
    "min_improvement": 0.0,
    "passed": True,
}


def operator(**kwargs: Any) -> RegisterModelOperator:
    kwargs.setdefault("model_uri", "runs:/r1/model")
    kwargs.setdefault("registered_model_name", "m")
    kwargs.setdefault("token_symbol", "HOK")
    kwargs.setdefault("evidence", EVIDENCE)
    return RegisterModelOperator(task_id="register", **kwargs)


def test_registration_builds_the_tags() -> None:
    registration = operator(contributor_address="0x" + "0" * 40, model_id="hokusai-m").registration()
    evidence, version_tags = registration.evidence.model_dump(mode="json"), registration.version_tags()
    assert evidence == {**EVIDENCE, "improvement_percentage": pytest.approx(20.0)}
    assert version_tags[tags.BENCHMARK_VALUE] == repr(1.0)
    assert version_tags[tags.CURRENT_VALUE] == repr(0.8)
    assert version_tags[tags.DIRECTION] == "lower_is_better"
    assert version_tags[tags.MODEL_ID] == "hokusai-m"
    assert version_tags[tags.STATUS] == tags.STATUS_VALIDATED
    assert float(version_tags[tags.IMPROVEMENT_PERCENTAGE]) == pytest.approx(20.0)
    assert version_tags[tags.TOKEN_ID] == "HOK"
    assert version_tags[tags.EXPERIMENT_NAME] == "exp"
    assert version_tags[tags.CONTRIBUTOR_ADDRESS] == "0x" + "0" * 40


def test_direction_and_improvement_are_recomputed_not_trusted() -> None:
    evidence = {k: v for k, v in EVIDENCE.items() if k not in ("direction", "improvement_percentage")}
    registration = operator(evidence=evidence, token_symbol="hok-2").registration()
    assert registration.token_symbol == "HOK-2"
    assert registration.evidence.direction == "lower_is_better"  # inferred from val_rmse
    assert registration.evidence.improvement_percentage == pytest.approx(20.0)
    lied = operator(evidence={**EVIDENCE, "improvement_percentage": 99.0}).registration()
    assert lied.evidence.improvement_percentage == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"passed": False}, {"evidence.passed"}),
        ({"current_value": 1.2}, {"evidence.improvement_percentage"}),
        ({"baseline_value": 0}, {"evidence.baseline_value"}),
        ({"current_value": float("nan")}, {"evidence.current_value"}),
        ({"direction": "sideways"}, {"evidence.direction"}),
        ({"metric_name": " "}, {"evidence.metric_name"}),
    ],
)
def test_bad_evidence_names_its_field(overrides: dict[str, Any], fields: set[str]) -> None:
    with pytest.raises(InvalidInputError) as exc:
        operator(evidence={**EVIDENCE, **overrides}).registration()
    assert set(exc.value.fields) == fields


def test_missing_evidence_keys_are_named() -> None:
    evidence = {k: v for k, v in EVIDENCE.items() if k not in ("run_id", "current_value")}
    with pytest.raises(InvalidInputError) as exc:
        operator(evidence=evidence).registration()
    assert set(exc.value.fields) == {"evidence.run_id", "evidence.current_value"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"registered_model_name": " "}, "registered_model_name"),
        ({"registered_model_name": "m" * 513}, "registered_model_name"),
        ({"model_id": " "}, "model_id"),
        ({"alias": "v3"}, "alias"),
        ({"alias": ""}, "alias"),
        ({"token_symbol": 5}, "token_symbol"),
        ({"evidence": "[1, 2]"}, "evidence"),
    ],
)
def test_each_bad_argument_is_named(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        operator(**kwargs).registration()
    assert exc.value.fields == [field]


def test_too_long_tag_values_are_refused() -> None:
    with pytest.raises(InvalidInputError) as exc:
        operator(evidence={**EVIDENCE, "experiment_name": "e" * 2000}).registration().version_tags()
    assert exc.value.fields == [tags.EXPERIMENT_NAME]


def test_validate_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidInputError) as exc:
        operator(
            token_symbol="bad symbol",
            contributor_address="nope",
            model_uri="file:///x",
            evidence={**EVIDENCE, "current_value": -1},
        ).registration()
    assert set(exc.value.fields) == {"token_symbol", "contributor_address", "model_uri", "evidence.current_value"}
    assert isinstance(exc.value, HokusaiPermanentError)


def test_parse_evidence_accepts_dict_json_and_repr() -> None:
    assert parse_evidence(EVIDENCE) == EVIDENCE
    assert parse_evidence(json.dumps(EVIDENCE)) == EVIDENCE
    assert parse_evidence(repr(EVIDENCE)) == EVIDENCE
    with pytest.raises(InvalidInputError):
        parse_evidence("[1, 2]")


def test_templated_fields_and_link() -> None:
    op = operator()
    assert {"model_uri", "registered_model_name", "token_symbol", "evidence", "alias"} <= set(op.template_fields)
    assert [link.name for link in op.operator_extra_links] == ["MLflow model version"]


def registry_with(*statuses: str) -> FakeMLflowRegistry:
    """Version 1 of ``m`` going through ``statuses``, one per read."""
    registry = FakeMLflowRegistry()
    registry.add("m", "1", statuses=statuses, status_message="disk full")
    return registry


def hook_with(registry: FakeMLflowRegistry) -> MLflowHook:
    hook = MLflowHook()
    # Seeds the cached properties: a local registry store, no REST client.
    hook.__dict__["stores"] = MLflowStores(tracking=None, registry=registry)
    hook.__dict__["tracking_rest"] = hook.__dict__["registry_rest"] = None
    return hook


def test_ready_wait_polls_until_ready() -> None:
    client = registry_with("PENDING_REGISTRATION", "PENDING_REGISTRATION", "READY")
    assert hook_with(client).wait_for_model_version_ready("m", "1", poll_interval=0).status == "READY"
    assert client.reads[("m", "1")] == 3


def test_failed_registration_is_permanent() -> None:
    client = registry_with("PENDING_REGISTRATION", "FAILED_REGISTRATION")
    with pytest.raises(ModelRegistrationError, match="disk full"):
        hook_with(client).wait_for_model_version_ready("m", "1", poll_interval=0)


def test_ready_wait_is_bounded_and_retryable() -> None:
    with pytest.raises(ModelRegistrationTimeout) as exc:
        hook_with(registry_with("PENDING_REGISTRATION")).wait_for_model_version_ready(
            "m", "1", timeout=0, poll_interval=0
        )
    assert isinstance(exc.value, HokusaiRetryableError)


@pytest.mark.parametrize(("stored", "expected"), [("http://mlflow/#/models/m/versions/1", None), (None, "")])
def test_link_reads_the_url_from_xcom(
    monkeypatch: pytest.MonkeyPatch, stored: str | None, expected: str | None
) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    seen: dict[str, Any] = {}

    def get_value(*, key: str, ti_key: Any) -> str | None:
        seen.update(key=key, ti_key=ti_key)
        return stored

    monkeypatch.setattr(XCom, "get_value", get_value)
    link = MLflowModelVersionLink().get_link(operator(), ti_key="ti-key")  # type: ignore[arg-type]
    assert link == (stored if expected is None else expected)
    assert seen == {"key": MODEL_VERSION_URL_XCOM_KEY, "ti_key": "ti-key"}

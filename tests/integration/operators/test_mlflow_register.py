"""RegisterModelOperator against a real mlflow server (and the embedded sqlite store)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import InvalidInputError
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.operators.mlflow import RegisterModelOperator
from airflow_provider_hokusai.registry import tags
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor
from tests.fixtures.mlflow import (
    LoggedCandidate,
    MLflowServer,
    RecordingTI,
    log_sklearn_candidate,
    unique,
)

pytestmark = pytest.mark.integration

CONTRIBUTOR = "0x" + "ab" * 20


def evidence_for(candidate: LoggedCandidate, **overrides: Any) -> dict[str, Any]:
    evidence = {
        "run_id": candidate.run_id,
        "experiment_id": candidate.experiment_id,
        "experiment_name": candidate.experiment_name,
        "metric_name": "accuracy",
        "current_value": 0.93,
        "baseline_value": 0.9,
        "baseline_source": "value",
        "direction": "higher_is_better",
        "improvement_percentage": (0.93 - 0.9) / 0.9 * 100,
        "min_improvement": 0.0,
        "passed": True,
    }
    evidence.update(overrides)
    return evidence


def register(name: str, candidate: LoggedCandidate, **kwargs: Any) -> tuple[dict[str, Any], RecordingTI]:
    kwargs.setdefault("model_uri", candidate.runs_uri)
    kwargs.setdefault("token_symbol", "HOK")
    kwargs.setdefault("evidence", evidence_for(candidate))
    op = RegisterModelOperator(task_id="register", registered_model_name=name, ready_poll_interval=0.1, **kwargs)
    ti = RecordingTI()
    return op.execute({"ti": ti}), ti  # type: ignore[arg-type]


def versions(name: str) -> list[Any]:
    return MLflowHook().search_model_versions(f"name = '{name}'")


def registered_model_exists(name: str) -> bool:
    return bool(MLflowHook().search_registered_models(filter_string=f"name = '{name}'"))


def test_register_writes_every_tag_alias_and_returns_xcom(
    mlflow_conn: MLflowServer, server_logged_model: LoggedCandidate
) -> None:
    name = unique("hokusai-model")
    result, ti = register(name, server_logged_model, contributor_address=CONTRIBUTOR, alias="candidate")

    assert set(result) == {
        "model_name",
        "model_version",
        "model_id",
        "run_id",
        "token_symbol",
        "evidence",
        "model_version_url",
    }
    assert result["model_name"] == name
    assert result["model_version"] == "1"
    assert result["model_id"] == name
    assert result["run_id"] == server_logged_model.run_id
    assert result["token_symbol"] == "HOK"
    assert result["evidence"] == evidence_for(server_logged_model)
    assert result["model_version_url"] == f"{mlflow_conn.url}/#/models/{name}/versions/1"
    assert ti.xcoms["model_version_url"] == result["model_version_url"]
    json.dumps(result)

    version = MLflowHook().get_model_version(name, "1")
    assert version.status == "READY"
    # The REST API does not carry ModelVersion.model_id (MLflow 3.17); the source names the logged model.
    assert version.source == server_logged_model.models_uri
    assert version.aliases == ["candidate"]
    assert version.tags == {
        tags.TOKEN_ID: "HOK",
        tags.BENCHMARK_METRIC: "accuracy",
        tags.BENCHMARK_VALUE: repr(0.9),
        tags.CURRENT_VALUE: repr(0.93),
        tags.DIRECTION: "higher_is_better",
        tags.IMPROVEMENT_PERCENTAGE: repr((0.93 - 0.9) / 0.9 * 100),
        tags.RUN_ID: server_logged_model.run_id,
        tags.MODEL_ID: name,
        tags.EXPERIMENT_NAME: server_logged_model.experiment_name,
        tags.CONTRIBUTOR_ADDRESS: CONTRIBUTOR,
        tags.STATUS: tags.STATUS_VALIDATED,
        # The pending index: written last, until the announcement's receipt.
        tags.ANNOUNCEMENT_STATUS: tags.ANNOUNCEMENT_PENDING,
    }


def test_register_twice_gives_one_version(mlflow_conn: MLflowServer, server_logged_model: LoggedCandidate) -> None:
    name = unique("hokusai-model")
    first, _ = register(name, server_logged_model)
    # A retry or a re-run: new operator instance, same candidate, once by run URI and once by logged-model URI.
    second, _ = register(name, server_logged_model)
    third, _ = register(name, server_logged_model, model_uri=server_logged_model.models_uri)

    assert first["model_version"] == second["model_version"] == third["model_version"] == "1"
    assert len(versions(name)) == 1


def test_logged_model_uri_and_lowercase_symbol(mlflow_conn: MLflowServer, server_logged_model: LoggedCandidate) -> None:
    name = unique("hokusai-model")
    result, _ = register(name, server_logged_model, model_uri=server_logged_model.models_uri, token_symbol="hok-2")
    assert result["token_symbol"] == "HOK-2"
    version = MLflowHook().get_model_version(name, result["model_version"])
    assert version.status == "READY"
    assert version.tags[tags.TOKEN_ID] == "HOK-2"
    assert tags.CONTRIBUTOR_ADDRESS not in version.tags


@pytest.mark.parametrize("as_text", [json.dumps, repr])
def test_evidence_rendered_as_text(
    mlflow_conn: MLflowServer, server_logged_model: LoggedCandidate, as_text: Any
) -> None:
    name = unique("hokusai-model")
    result, _ = register(name, server_logged_model, evidence=as_text(evidence_for(server_logged_model)))
    assert result["evidence"]["passed"] is True


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"token_symbol": "not a symbol!"}, "token_symbol"),
        ({"token_symbol": "TOOLONGSYMBOL"}, "token_symbol"),
        ({"contributor_address": "0x123"}, "contributor_address"),
        ({"alias": "latest"}, "alias"),
        ({"model_uri": "s3://bucket/model"}, "model_uri"),
        ({"evidence_overrides": {"passed": False}}, "evidence.passed"),
        ({"evidence_overrides": {"current_value": float("inf")}}, "evidence.current_value"),
        ({"evidence_overrides": {"baseline_value": 0}}, "evidence.baseline_value"),
        ({"evidence_overrides": {"current_value": 0.8}}, "evidence.improvement_percentage"),
        ({"evidence": "not evidence"}, "evidence"),
        ({"evidence_overrides": {"run_id": "someone-else"}}, "model_uri"),
    ],
)
def test_bad_input_writes_nothing(
    mlflow_conn: MLflowServer, server_logged_model: LoggedCandidate, kwargs: dict[str, Any], field: str
) -> None:
    name = unique("hokusai-model")
    overrides = kwargs.pop("evidence_overrides", None)
    if overrides is not None:
        kwargs["evidence"] = evidence_for(server_logged_model, **overrides)
    with pytest.raises(InvalidInputError) as exc:
        register(name, server_logged_model, **kwargs)
    assert field in exc.value.fields
    assert not registered_model_exists(name)


def test_sensor_evidence_feeds_registration(mlflow_conn: MLflowServer, server_logged_model: LoggedCandidate) -> None:
    evidence = MLflowBaselineSensor(
        task_id="validate", run_id=server_logged_model.run_id, metric_name="accuracy", baseline_value=0.9
    ).execute({})
    name = unique("hokusai-model")
    result, _ = register(name, server_logged_model, evidence=evidence)
    assert result["evidence"] == evidence
    assert MLflowHook().get_model_version(name, result["model_version"]).tags[tags.CURRENT_VALUE] == repr(0.93)


def test_embedded_sqlite_store(mlflow_embedded_conn: str, tmp_path: Any) -> None:
    candidate = log_sklearn_candidate(
        mlflow_embedded_conn,
        unique("embedded"),
        {"accuracy": 0.93},
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )
    name = unique("hokusai-model") + "'s"  # a quote in the name must not defeat the lookup of the existing version
    first, _ = register(name, candidate)
    second, _ = register(name, candidate)
    assert first["model_version"] == second["model_version"]
    assert first["model_version_url"] is None  # a local store has no UI
    assert len(MLflowHook().search_model_versions(f'name = "{name}"')) == 1
    assert MLflowHook().get_model_version(name, first["model_version"]).tags[tags.TOKEN_ID] == "HOK"

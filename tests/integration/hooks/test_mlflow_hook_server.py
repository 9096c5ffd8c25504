"""MLflowHook against a real mlflow server and the embedded sqlite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from tests.fixtures.mlflow import MLflowServer, create_run, unique

pytestmark = pytest.mark.integration


def test_test_connection_against_the_server(mlflow_conn: MLflowServer) -> None:
    ok, message = MLflowHook().test_connection()
    assert ok, message
    assert mlflow_conn.url in message


def test_test_connection_against_the_embedded_store(mlflow_embedded_conn: str) -> None:
    hook = MLflowHook()
    assert hook.test_connection()[0]
    assert hook.tracking_uri == mlflow_embedded_conn
    assert hook.ui_url is None


def test_helpers_the_publisher_uses(mlflow_conn: MLflowServer) -> None:
    hook = MLflowHook()
    run_id = create_run(mlflow_conn.url, unique("exp"), metrics={"accuracy": 0.9})
    name = unique("model")
    hook.create_registered_model(name)
    hook.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    hook.set_registered_model_alias(name, "champion", "1")

    hook.set_model_version_tags(name, 1, {"a": "1", "b": "two"})

    assert hook.get_run(run_id).data.metrics == {"accuracy": 0.9}
    assert hook.get_model_version(name, "1").tags == {"a": "1", "b": "two"}
    assert [v.version for v in hook.search_model_versions(f"name = '{name}' AND run_id = '{run_id}'")] == ["1"]
    assert hook.model_version_url(name, "1") == f"{mlflow_conn.url}/#/models/{name}/versions/1"
    assert hook.get_alias_metric(name, "champion", "accuracy") == 0.9
    assert hook.get_alias_metric(name, "no-such-alias", "accuracy") is None
    assert hook.get_alias_metric(name, "champion", "f1") is None


def test_experiments_are_created_where_the_connection_keeps_artifacts(
    mlflow_sqlite_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts = tmp_path / "artifacts"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        json.dumps(
            {"conn_type": "mlflow", "extra": {"tracking_uri": mlflow_sqlite_uri, "artifact_location": str(artifacts)}}
        ),
    )
    hook = MLflowHook()
    name = unique("hokusai-artifacts")

    experiment_id = hook.get_or_create_experiment(name)

    assert hook.get_or_create_experiment(name) == experiment_id
    location = hook.get_experiment(experiment_id).artifact_location
    assert location.removeprefix("file://") == str(artifacts)


def test_find_candidate_run_reads_a_typed_snapshot(mlflow_conn: MLflowServer) -> None:
    from airflow_provider_hokusai.gate.baseline import BaselineCriteria, CandidateRun

    experiment = unique("exp")
    run_id = create_run(mlflow_conn.url, experiment, metrics={"accuracy": 0.9})
    hook = MLflowHook()
    by_id = hook.find_candidate_run(BaselineCriteria(metric_name="accuracy", run_id=run_id, baseline_value=0.5))
    by_experiment = hook.find_candidate_run(
        BaselineCriteria(metric_name="f1", experiment_name=experiment, baseline_value=0.5)
    )
    missing = hook.find_candidate_run(
        BaselineCriteria(metric_name="f1", experiment_name=unique("none"), baseline_value=0.5)
    )

    assert isinstance(by_id, CandidateRun)
    assert (by_id.run_id, by_id.status, by_id.experiment_name, by_id.metric_value) == (
        run_id,
        "FINISHED",
        experiment,
        0.9,
    )
    assert by_experiment is not None
    assert (by_experiment.run_id, by_experiment.experiment_id, by_experiment.metric_value) == (
        run_id,
        by_id.experiment_id,
        None,
    )
    assert missing is None

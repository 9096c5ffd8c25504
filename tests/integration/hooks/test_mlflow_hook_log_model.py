"""
``MLflowHook.log_model`` and registration from its logged model, with the hook's client only: on an embedded sqlite
store (whose registry resolves ``models:/m-<id>`` through the process's tracking URI) and on a real ``mlflow server``.
The process's tracking URI points elsewhere throughout and is left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hokusai_testkit.mlflow import MLflowServer, unique


def save_tiny_model(path: Path) -> None:
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(features, labels)
    mlflow.sklearn.save_model(model, str(path), serialization_format="cloudpickle")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[str]:
    """The process's tracking URI, set to a store that is not the hook's."""
    from mlflow.tracking._tracking_service import utils

    previous = utils._tracking_uri
    uri = f"file://{tmp_path / 'elsewhere'}"
    utils._tracking_uri = uri
    yield uri
    utils._tracking_uri = previous


@pytest.mark.parametrize("store", ["embedded", "server"])
def test_log_model_then_register_from_it(
    store: str, request: pytest.FixtureRequest, elsewhere: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking._tracking_service import utils

    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

    if store == "embedded":
        # Artifacts under the test's directory (an embedded store's default is ./mlruns of the working directory).
        extra = {"tracking_uri": request.getfixturevalue("mlflow_sqlite_uri"), "artifact_location": str(tmp_path)}
        monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "mlflow", "extra": extra}))
    else:
        server: MLflowServer = request.getfixturevalue("mlflow_conn")
        assert server.url
    hook = MLflowHook()
    experiment_id = hook.get_or_create_experiment(unique("log-model-exp"))
    run_id = hook.create_run(experiment_id).info.run_id
    save_tiny_model(tmp_path / "model")

    model_id = hook.log_model(run_id, tmp_path / "model", name="model")
    hook.set_terminated(run_id)
    source = hook.resolve_model_source(f"runs:/{run_id}/model")
    version, created = hook.get_or_create_model_version(unique("log-model"), source)

    assert (source.source, created) == (f"models:/{model_id}", True)
    assert version.source == f"models:/{model_id}"
    assert str(hook.get_logged_model(model_id).status) == "READY"
    assert utils._tracking_uri == elsewhere

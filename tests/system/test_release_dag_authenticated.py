"""
The example release DAG against an MLflow that demands HTTP basic auth (``mlflow server --app-name basic-auth``):
training, validation, registration and announcement all go through the ``mlflow_default`` connection's
credentials, bound to the hook's client; nothing in the process's environment carries them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from hokusai_testkit.mlflow import MLflowServer, running_mlflow_server, unique
from hokusai_testkit.redis import RedisProcess

pytestmark = pytest.mark.usefixtures("airflow_db")

PASSWORD = "hokusai-admin-password-2026"
REDIS_LIST = "hokusai:model_ready_queue"


@pytest.fixture(scope="module")
def auth_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-auth"), admin_password=PASSWORD) as server:
        yield server


@pytest.fixture
def auth_release(
    auth_mlflow: MLflowServer, redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RedisProcess]:
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools

    for name in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    conn = {
        "conn_type": "mlflow",
        "host": "127.0.0.1",
        "port": auth_mlflow.port,
        "login": "admin",
        "password": PASSWORD,
    }
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(conn))
    redis_server.client().flushall()
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_QUEUE", redis_server.conn_json())
    yield redis_server
    close_shared_pools()


def test_the_server_refuses_a_client_without_credentials(auth_mlflow: MLflowServer) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match=r"401|Unauthorized|credentials"):
        MlflowClient(tracking_uri=auth_mlflow.url).search_experiments(max_results=1)


def test_release_trains_registers_and_announces_with_the_connections_credentials(
    auth_release: RedisProcess, auth_mlflow: MLflowServer
) -> None:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from scripts.dagrun import run_dag_test

    conf: dict[str, Any] = {
        "registered_model_name": unique("hokusai-auth"),
        "experiment_name": unique("hokusai-auth-exp"),
        "token_symbol": "hkau",
    }
    result = run_dag_test("hokusai_model_release.py", run_conf=conf)

    assert result.states == dict.fromkeys(("train", "validate", "register", "announce"), "success")
    (body,) = auth_release.client().lrange(REDIS_LIST, 0, -1)
    message = ModelReadyToDeployMessage.from_json(body)
    assert message.model_name == conf["registered_model_name"]

    hook = MLflowHook()
    run = hook.get_run(result.returns["train"])
    assert run.info.status == "FINISHED"
    assert set(run.data.metrics) == {"accuracy", "f1", "auroc", "log_loss"}
    (logged,) = hook.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    assert (logged.name, str(logged.status)) == ("model", "READY")
    # The model's files were uploaded with the credentials: they are in the server's artifact store.
    uploaded = list((auth_mlflow.root / "artifacts").rglob(f"{logged.model_id}/artifacts/MLmodel"))
    assert len(uploaded) == 1
    version = hook.get_model_version(conf["registered_model_name"], message.model_version)
    assert version.source == f"models:/{logged.model_id}"

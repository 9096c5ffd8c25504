"""
Per-connection credentials on a real ``mlflow server --app-name basic-auth``: two users created through MLflow's
basic-auth REST API, each connection's calls carry its own credentials, from threads at once, and nothing leaks into
the process (no ``MLFLOW_*`` variable, a plain ``MlflowClient`` stays unauthenticated).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from hokusai_testkit.mlflow import MLflowServer, running_mlflow_server, unique

pytestmark = pytest.mark.integration

ADMIN = ("admin", secrets.token_urlsafe(18))
ALICE = ("alice", secrets.token_urlsafe(18))
BOB = ("bob", secrets.token_urlsafe(18))
WRONG = ("alice", secrets.token_urlsafe(18))


def _admin_post(server: MLflowServer, path: str, body: dict[str, Any]) -> None:
    auth = base64.b64encode(":".join(ADMIN).encode()).decode()
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    root = tmp_path_factory.mktemp("mlflow-basic-auth")
    config = root / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN[0]}\n"
        f"admin_password = {ADMIN[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}
    # The basic-auth app starts slower (its user store, CSRF); on a loaded machine it needs more than the default.
    with running_mlflow_server(root, timeout=360, env=env, app_name="basic-auth") as server:
        for username, password in (ALICE, BOB):
            _admin_post(server, "/api/2.0/mlflow/users/create", {"username": username, "password": password})
        yield server


def hook(monkeypatch: pytest.MonkeyPatch, server: MLflowServer, conn_id: str, user: tuple[str, str]) -> MLflowHook:
    conn = {"conn_type": "mlflow", "host": "127.0.0.1", "port": server.port, "login": user[0], "password": user[1]}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return MLflowHook(mlflow_conn_id=conn_id)


def http_status(call: Callable[[], object]) -> int:
    """The answer's HTTP status, through MLflow's client (its stores) or the hook's own REST client."""
    from mlflow.exceptions import MlflowException

    try:
        call()
    except MlflowException as exc:
        return exc.get_http_status_code()
    except requests.HTTPError as exc:
        return exc.response.status_code
    return 200


def test_each_connection_carries_its_own_credentials_and_nothing_leaks(
    auth_server: MLflowServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    mlflow_variables = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    alice = hook(monkeypatch, auth_server, "mlflow_alice", ALICE)
    bob = hook(monkeypatch, auth_server, "mlflow_bob", BOB)
    wrong = hook(monkeypatch, auth_server, "mlflow_wrong", WRONG)
    alices = alice.create_experiment(unique("alice"), artifact_location=str(tmp_path / "a"))
    bobs = bob.create_experiment(unique("bob"), artifact_location=str(tmp_path / "b"))
    alices_model = unique("alice-model")
    alice.create_registered_model(alices_model)

    # Every call from three threads at once, many times over: each gets its own connection's answer.
    calls = {
        "alice reads hers": lambda: alice.get_experiment(alices),
        "bob reads his": lambda: bob.get_experiment(bobs),
        "bob reads alice's": lambda: bob.get_experiment(alices),
        "alice reads bob's": lambda: alice.get_experiment(bobs),
        "wrong password": lambda: wrong.get_experiment(alices),
        # Registry reads go over the hook's REST client (no MLflow client): the same credentials, per connection.
        "alice reads her model's version 1 (none yet)": lambda: alice.get_model_version(alices_model, "1"),
        "bob reads alice's model's version": lambda: bob.get_model_version(alices_model, "1"),
        "wrong password reads a version": lambda: wrong.get_model_version(alices_model, "1"),
    }
    expected = {"alice reads hers": 200, "bob reads his": 200, "bob reads alice's": 403, "alice reads bob's": 403}
    expected["wrong password"] = 401
    expected |= {
        "alice reads her model's version 1 (none yet)": 404,
        "bob reads alice's model's version": 403,
        "wrong password reads a version": 401,
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda item: (item[0], http_status(item[1])), list(calls.items()) * 6))
    assert sorted(set(answers)) == sorted(expected.items())

    ok, message = wrong.test_connection()
    assert not ok and "not usable" in message
    assert WRONG[1] not in message and ALICE[1] not in message

    # The process is as it was: no MLFLOW_* variable gained, and MLflow's own clients carry no credentials.
    assert {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")} == mlflow_variables
    assert http_status(lambda: MlflowClient(tracking_uri=auth_server.url).search_experiments()) == 401
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.url)
    import mlflow

    assert http_status(mlflow.search_experiments) == 401

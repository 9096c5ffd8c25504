"""
The endpoint inside Airflow's own API server app: the plugin is found through the provider info, mounted at
``/hokusai``, and, with ``[hokusai] health_require_auth``, guarded by Airflow's auth manager (a real token from
the simple auth manager's ``/auth/token``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.ports import free_port
from tests.fixtures.redis import RedisProcess, start_redis
from tests.integration.plugins.conftest import PASSWORD

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "hokusai-admin-Pa55-1f0b"
START_TIMEOUT = 120.0


@dataclass
class AirflowApi:
    url: str
    redis: RedisProcess
    log: Path


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"API server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/api/v2/version", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"API server not ready within {START_TIMEOUT}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def airflow_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApi]:
    home = tmp_path_factory.mktemp("airflow-api-home")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": ADMIN_PASSWORD}))
    redis = start_redis(password=PASSWORD)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__HOKUSAI__", "AIRFLOW_CONN_"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "hokusai-test-jwt-secret-0123456789abcdef",
        "AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS": "hokusai_queue",
        "AIRFLOW__HOKUSAI__HEALTH_TIMEOUT_SECONDS": "2",
        "AIRFLOW__HOKUSAI__HEALTH_REQUIRE_AUTH": "True",
        "AIRFLOW_CONN_HOKUSAI_QUEUE": redis.uri(),
    }
    log = home / "api-server.log"
    # Token checks read the metadata database (revoked tokens), so it needs its schema.
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=env,
        cwd=home,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "airflow.api_fastapi.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield AirflowApi(url=url, redis=redis, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        redis.stop()


def _token(api: AirflowApi) -> str:
    response = httpx.post(f"{api.url}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


def test_plugin_is_mounted_at_hokusai(airflow_api: AirflowApi) -> None:
    # Only the provider info declares the plugin, so a mounted /hokusai app proves Airflow found it there.
    response = httpx.get(f"{airflow_api.url}/hokusai/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["info"]["title"] == "Hokusai"
    assert "/health" in response.json()["paths"]


def test_plugin_is_listed_by_airflow(airflow_api: AirflowApi) -> None:
    headers = {"Authorization": f"Bearer {_token(airflow_api)}"}
    response = httpx.get(f"{airflow_api.url}/api/v2/plugins", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    (plugin,) = [p for p in response.json()["plugins"] if p["name"] == "hokusai"]
    assert plugin["fastapi_apps"] == [
        {
            "app": "airflow_provider_hokusai.plugins.lazy.LazyApp",
            "url_prefix": "/hokusai/webhooks",
            "name": "Hokusai MLflow webhooks",
        },
        {"app": "airflow_provider_hokusai.plugins.lazy.LazyApp", "url_prefix": "/hokusai/ui", "name": "Hokusai UI"},
        {"app": "airflow_provider_hokusai.plugins.lazy.LazyApp", "url_prefix": "/hokusai", "name": "Hokusai"},
    ]


def test_requires_a_token_when_configured(airflow_api: AirflowApi) -> None:
    assert httpx.get(f"{airflow_api.url}/hokusai/health", timeout=10).status_code == 401
    forged = httpx.get(f"{airflow_api.url}/hokusai/health", headers={"Authorization": "Bearer forged"}, timeout=10)
    assert forged.status_code in (401, 403)
    assert "queues" not in forged.text


def test_healthy_then_stopped_broker(airflow_api: AirflowApi) -> None:
    headers = {"Authorization": f"Bearer {_token(airflow_api)}"}
    healthy = httpx.get(f"{airflow_api.url}/hokusai/health", headers=headers, timeout=15)
    assert healthy.status_code == 200, healthy.text
    (entry,) = healthy.json()["queues"]
    assert (entry["conn_id"], entry["reachable"], entry["backend"]) == ("hokusai_queue", True, "redis")

    airflow_api.redis.stop()
    down = httpx.get(f"{airflow_api.url}/hokusai/health", headers=headers, timeout=15)
    assert down.status_code == 503, down.text
    (entry,) = down.json()["queues"]
    assert entry["reachable"] is False
    assert PASSWORD not in down.text
    assert ADMIN_PASSWORD not in down.text


def test_webhook_receiver_is_mounted_needs_no_login_and_fails_closed_without_a_secret(airflow_api: AirflowApi) -> None:
    # Mounted before /hokusai (which would otherwise answer 404), reachable without an Airflow token even with
    # health_require_auth on; with no hokusai_mlflow_webhook connection nothing can verify, so nothing is taken.
    body = b'{"entity": "model_version", "action": "created", "data": {"name": "m", "version": "1"}}'
    answer = httpx.post(f"{airflow_api.url}/hokusai/webhooks/mlflow", content=body, timeout=10)
    assert answer.status_code == 503, answer.text
    assert answer.json()["status"] == "unavailable"
    openapi = httpx.get(f"{airflow_api.url}/hokusai/webhooks/openapi.json", timeout=10)
    assert "/mlflow" in openapi.json()["paths"]

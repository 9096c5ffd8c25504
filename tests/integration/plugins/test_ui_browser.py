"""
The Hokusai page, driven in real headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright) against real
servers: ``airflow api-server``, ``scheduler`` (LocalExecutor) and ``dag-processor`` on a sqlite metadata database
with the simple auth manager (``simple_auth_manager_all_admins = False``), ``mlflow server`` and ``redis-server``.

The registry holds one version announced for real (its message on the queue, its receipt in MLflow) and one whose
announcement failed (failed status and reason, as the announcer records them). The admin sees both, presses
"Reconcile now", the page follows the DAG run Airflow executes, and the failed version turns announced with exactly
one message of its own on the queue. A viewer sees the buttons disabled; a request without a token is refused.
Screenshots go to ``docs/`` (``HOKUSAI_UI_SCREENSHOTS=0`` skips writing them).

The reconcile DAG is the provider's own (``airflow_provider_hokusai.dags.reconcile``) with its hourly schedule off,
so that only the button runs it (an unpaused ``@hourly`` DAG would get a scheduled run of its own at once).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_hokusai.registry import tags as t
from hokusai_testkit.mlflow import MLflowServer, registered_version, running_mlflow_server, validated_tags
from hokusai_testkit.ports import LOOPBACK, free_port
from hokusai_testkit.redis import RedisProcess, start_redis
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUEUE = "hokusai:model_ready_queue"
REDIS_PASSWORD = "ui-redis-Pa55-41c7"
PASSWORDS = {"admin": "ui-admin-Pa55-0d2e", "viewer": "ui-viewer-Pa55-9b1f"}
RECONCILE_DAG, RETRY_DAG = "hokusai_reconcile_announcements", "hokusai_announce_only"
FAILURE = "retryable: QueueUnavailableError: Redis at 127.0.0.1:6390 refused the connection (ConnectionError)"
DOCS = REPO_ROOT / "docs"
START_TIMEOUT = 240.0


@dataclass
class Stack:
    url: str
    redis: RedisProcess
    mlflow: MLflowServer
    announced: tuple[str, str]
    failed: tuple[str, str]
    home: Path

    def token(self, user: str) -> str:
        answer = httpx.post(f"{self.url}/auth/token", json={"username": user, "password": PASSWORDS[user]}, timeout=30)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["access_token"])

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.client().lrange(QUEUE, 0, -1)]


def _dags_folder(home: Path) -> Path:
    """The provider's reconcile DAG (from its factory, schedule off) and its announce-only DAG, as it ships them."""
    folder = home / "dags"
    folder.mkdir()
    (folder / "hokusai_page_dags.py").write_text(
        "from airflow_provider_hokusai.dags.announce_only import announce_only_dag\n"
        "from airflow_provider_hokusai.dags.reconcile import reconcile_announcements_dag\n\n"
        f"reconcile = reconcile_announcements_dag(dag_id={RECONCILE_DAG!r}, schedule=None)\n"
        f"retry = announce_only_dag(dag_id={RETRY_DAG!r})\n"
    )
    return folder


def _env(home: Path, port: int, redis: RedisProcess, mlflow: MLflowServer) -> dict[str, str]:
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "MLFLOW_"))}
    return keep | {
        "AIRFLOW_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_dags_folder(home)),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{port}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://{LOOPBACK}:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "hokusai-ui-test-jwt-secret-0123456789abcdef",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS": "hokusai_queue",
        "AIRFLOW_CONN_HOKUSAI_QUEUE": redis.conn_json(),
        "AIRFLOW_CONN_MLFLOW_DEFAULT": mlflow.conn_uri,
    }


def _wait(what: str, check: Any, processes: dict[str, subprocess.Popen[bytes]], home: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{(home / f'{name}.log').read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        time.sleep(1)
    logs = "\n".join((home / f"{name}.log").read_text()[-2000:] for name in processes)
    raise TimeoutError(f"{what} not ready within {START_TIMEOUT}s:\n{logs}")


def _registry(mlflow: MLflowServer, redis: RedisProcess) -> tuple[tuple[str, str], tuple[str, str]]:
    """One version announced for real through the announcer, one whose announcement failed."""
    from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer, VersionRef
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.hooks.queue import get_queue_hook
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools

    improvement = {t.IMPROVEMENT_PERCENTAGE: repr((0.95 - 0.9) / 0.9 * 100)}
    announced = registered_version(mlflow.url, validated_tags(**improvement), "ui-announced")[:2]
    failure = {t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_FAILED, t.ANNOUNCEMENT_ERROR: FAILURE, t.TOKEN_ID: "FLD"}
    failed = registered_version(mlflow.url, validated_tags(**improvement, **failure), "ui-failed")[:2]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_UI_TEST_MLFLOW", mlflow.conn_uri)
        patch.setenv("AIRFLOW_CONN_UI_TEST_QUEUE", redis.conn_json())
        announcer = ModelReadyAnnouncer(MLflowHook("ui_test_mlflow"), get_queue_hook("ui_test_queue"))
        assert announcer.announce(VersionRef(*announced)).outcome == "published"
        close_shared_pools()
    return announced, failed


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("ui-airflow-home")
    mlflow_root = tmp_path_factory.mktemp("ui-mlflow")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    processes: dict[str, subprocess.Popen[bytes]] = {}
    # Durable (appendonly, fsync always), as docs/deployment.md asks: the queue's card then reads healthy.
    redis_data = tmp_path_factory.mktemp("ui-redis")
    with start_redis(REDIS_PASSWORD, redis_data) as redis, running_mlflow_server(mlflow_root) as mlflow:
        announced, failed = _registry(mlflow, redis)
        env = _env(home, port, redis, mlflow)
        airflow = str(Path(sys.executable).parent / "airflow")
        subprocess.run([airflow, "db", "migrate"], env=env, cwd=home, check=True, capture_output=True, timeout=300)
        try:
            for name, args in (("api-server", ["--port", str(port)]), ("scheduler", []), ("dag-processor", [])):
                with (home / f"{name}.log").open("wb") as log:
                    processes[name] = subprocess.Popen(
                        [airflow, name, *args],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        cwd=home,
                        start_new_session=True,
                    )
            stack = Stack(url, redis, mlflow, announced, failed, home)
            _wait(
                "API server", lambda: httpx.get(f"{url}/api/v2/version", timeout=5).status_code == 200, processes, home
            )
            headers = {"Authorization": f"Bearer {stack.token('admin')}"}
            _wait(
                "DAGs",
                lambda: all(
                    httpx.get(f"{url}/api/v2/dags/{dag}", headers=headers, timeout=10).status_code == 200
                    for dag in (RECONCILE_DAG, RETRY_DAG)
                ),
                processes,
                home,
            )
            yield stack
        finally:
            for process in processes.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def _page_as(browser: Any, stack: Stack, user: str) -> Any:
    """A page in a fresh context carrying ``user``'s Airflow session cookie, as the UI's login leaves it."""
    context = browser.new_context(viewport={"width": 1500, "height": 900})
    context.add_cookies([{"name": "_token", "value": stack.token(user), "url": stack.url}])
    page = context.new_page()
    page.goto(f"{stack.url}/hokusai/ui/")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    return page


def _row(page: Any, version: tuple[str, str]) -> Any:
    return page.locator(f'tr[data-model="{version[0]}"][data-version="{version[1]}"]')


def _screenshot(page: Any, name: str) -> None:
    if os.environ.get("HOKUSAI_UI_SCREENSHOTS", "1") != "0":
        page.screenshot(path=str(DOCS / name), full_page=True)


def test_unauthenticated_requests_are_refused(stack: Stack) -> None:
    page = httpx.get(f"{stack.url}/hokusai/ui/", timeout=30)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/auth/login")
    for path in ("/hokusai/ui/api/versions", "/hokusai/ui/api/models", "/hokusai/ui/api/actions"):
        assert httpx.get(f"{stack.url}{path}", timeout=30).status_code == 401
        forged = httpx.get(f"{stack.url}{path}", headers={"Authorization": "Bearer forged"}, timeout=30)
        assert forged.status_code in (401, 403)
        assert "versions" not in forged.json() and stack.failed[0] not in forged.text
    token = {"Authorization": f"Bearer {stack.token('admin')}"}
    assert httpx.get(f"{stack.url}/hokusai/ui/api/versions", headers=token, timeout=30).status_code == 200


def test_plugin_is_in_airflows_navigation(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.token('viewer')}"}
    plugins = httpx.get(f"{stack.url}/api/v2/plugins", headers=headers, timeout=30).json()["plugins"]
    (hokusai,) = [p for p in plugins if p["name"] == "hokusai"]
    (view,) = hokusai["external_views"]
    assert (view["href"], view["url_route"], view["destination"]) == ("/hokusai/ui/", "hokusai", "nav")


def test_viewer_sees_the_page_with_actions_disabled(stack: Stack, browser: Any) -> None:
    page = _page_as(browser, stack, "viewer")
    assert _row(page, stack.failed).get_attribute("data-announcement") == "failed"
    assert page.locator("#reconcile").is_disabled()
    assert "may not trigger" in page.locator("#reconcile-note").inner_text()
    assert _row(page, stack.failed).locator("button.retry").is_disabled()
    page.context.close()


def test_admin_reconciles_the_failed_version(stack: Stack, browser: Any) -> None:
    page = _page_as(browser, stack, "admin")
    announced, failed = _row(page, stack.announced), _row(page, stack.failed)
    assert announced.get_attribute("data-announcement") == "announced"
    assert "validated" in announced.inner_text()
    assert "message" in announced.locator("td.receipt").inner_text()
    assert stack.messages()[0]["model_name"] == stack.announced[0]
    assert failed.get_attribute("data-announcement") == "failed"
    assert FAILURE in failed.inner_text()
    page.wait_for_selector(".card[data-conn-id=hokusai_queue]")
    assert "healthy" in page.locator(".card[data-conn-id=hokusai_queue]").inner_text()
    assert len(stack.messages()) == 1
    _screenshot(page, "ui-before-reconcile.png")

    assert page.locator("#reconcile").is_enabled()
    page.click("#reconcile")
    page.wait_for_selector("#action-status[data-state=success]", timeout=300_000)
    page.wait_for_selector(f'tr[data-model="{stack.failed[0]}"][data-announcement="announced"]', timeout=30_000)
    assert "message" in failed.locator("td.receipt").inner_text()
    assert announced.get_attribute("data-announcement") == "announced"
    _screenshot(page, "ui.png")

    messages = stack.messages()
    mine = [m for m in messages if m.get("model_name") == stack.failed[0]]
    assert len(mine) == 1, messages
    assert len(messages) == 2
    page.context.close()


def test_page_inside_airflows_ui(stack: Stack, browser: Any) -> None:
    """The "Hokusai" navigation entry opens the page inside Airflow's own UI (screenshot for the docs)."""
    context = browser.new_context(viewport={"width": 1500, "height": 900})
    context.add_cookies([{"name": "_token", "value": stack.token("admin"), "url": stack.url}])
    page = context.new_page()
    page.goto(f"{stack.url}/plugin/hokusai")
    frame = page.frame_locator("iframe")
    frame.locator("body[data-ready=true]").wait_for(timeout=90_000)
    assert frame.locator(f'tr[data-model="{stack.announced[0]}"]').count() == 1
    _screenshot(page, "ui-in-airflow.png")
    context.close()

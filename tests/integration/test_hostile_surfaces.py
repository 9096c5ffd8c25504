"""
The hostile-input cases of issue #24 on real components: the plugin's apps served by uvicorn (in a process of their
own, logging as ``airflow api-server`` does, at DEBUG), a real ``mlflow server``, moto's SQS, redis-servers, and the
console scripts run as installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hokusai.exceptions import InvalidModelReadyMessage
from airflow_provider_hokusai.registry import events as wh
from airflow_provider_hokusai.signing import verify_model_ready
from tests.conftest import REPO_ROOT
from tests.fixtures.mlflow import MLflowServer
from tests.fixtures.ports import free_port, stop_process, wait_for_port
from tests.fixtures.redis import RedisProcess
from tests.fixtures.sqs import REGION, SqsQueues

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
#: One distinct value in every credential field the health check and the webhook receiver read.
SECRETS = {
    "aws login (access key id)": "AKIAHOSTILELEAK0001",
    "aws password (secret key)": "hostile-Aws-Secret-8f2a91",
    "endpoint_url user": "hostileuser77",
    "endpoint_url password": "hostile-Url-Pass-55c1",
    "aws_session_token": "hostile-Session-Token-7ab3",
    "redis password": "hostile-Redis-Pa55-3d9e",
    "webhook secret": "hostile-Webhook-Secret-0a1b2c",
    "previous webhook secret": "hostile-Old-Webhook-Secret-9z8y",
}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without its Airflow settings and connections, on an Airflow home of its own."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AWS_"))}
    return {
        **kept,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        **extra,
    }


def signed(body: bytes, secret: str, delivery: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        wh.SIGNATURE_HEADER: wh.sign(secret, delivery, timestamp, body),
        wh.TIMESTAMP_HEADER: timestamp,
        wh.DELIVERY_ID_HEADER: delivery,
    }


# The API server's own log, at DEBUG, through a health check and webhook deliveries.


def test_debug_log_of_health_check_and_webhook_deliveries_holds_no_secret(
    sqs_queues: SqsQueues, redis_process_factory: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    redis = redis_process_factory(password=SECRETS["redis password"])
    aws = {
        "conn_type": "aws",
        "login": SECRETS["aws login (access key id)"],
        "password": SECRETS["aws password (secret key)"],
        "extra": {
            "endpoint_url": f"http://{SECRETS['endpoint_url user']}:{SECRETS['endpoint_url password']}@"
            f"127.0.0.1:{sqs_queues.server.port}",
            "region_name": REGION,
            "aws_session_token": SECRETS["aws_session_token"],
            "queue": sqs_queues.standard_url,
        },
    }
    webhook = {
        "conn_type": "generic",
        "password": SECRETS["webhook secret"],
        "extra": {"previous_secrets": [SECRETS["previous webhook secret"]]},
    }
    env = clean_env(
        tmp_path,
        AIRFLOW__LOGGING__LOGGING_LEVEL="DEBUG",
        AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS="hostile_sqs,hostile_redis",
        AIRFLOW__HOKUSAI__HEALTH_TIMEOUT_SECONDS="30",
        AIRFLOW_CONN_HOSTILE_SQS=json.dumps(aws),
        AIRFLOW_CONN_HOSTILE_REDIS=redis.uri(),
        AIRFLOW_CONN_HOKUSAI_MLFLOW_WEBHOOK=json.dumps(webhook),
    )
    port = free_port()
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.plugin_app_server", str(port)],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, timeout=120)
            answers = deliver_all(f"http://127.0.0.1:{port}")
        finally:
            stop_process(server)
    text = log_path.read_text(errors="replace")

    assert answers["health"][0] == 200, answers
    assert [q["reachable"] for q in answers["health"][1]["queues"]] == [True, True]
    assert answers["ignored tag, current secret"][0] == 202
    assert answers["ignored tag, previous secret"][0] == 202
    assert answers["wrong secret"][0] == 401
    assert answers["deep body"][0] == 400 and answers["long integer"][0] == 400
    # The log is DEBUG from the clients the check drove (else the grep below proves nothing), with masks in it.
    assert "[botocore.endpoint]" in text and "Sending http request" in text, text[-3000:]
    assert "x-amz-security-token:***" in text and "http://***@127.0.0.1" in text
    leaked = {field: value for field, value in SECRETS.items() if value in text}
    assert not leaked, leaked
    for _, body in answers.values():
        assert not any(value in json.dumps(body) for value in SECRETS.values())


def deliver_all(url: str) -> dict[str, tuple[int, Any]]:
    answers: dict[str, tuple[int, Any]] = {}
    health = httpx.get(f"{url}/hokusai/health", timeout=60)
    answers["health"] = (health.status_code, health.json())
    tag = json.dumps(
        {"entity": "model_version_tag", "action": "set", "data": {"name": "m", "version": "1", "key": "x"}}
    )
    deep = '{"entity": "model_version", "action": "created", "data": ' + "[" * 5000 + "]" * 5000 + "}"
    bodies = {
        "ignored tag, current secret": (tag, SECRETS["webhook secret"]),
        "ignored tag, previous secret": (tag, SECRETS["previous webhook secret"]),
        "wrong secret": (tag, "not-the-secret-at-all-0000"),
        "deep body": (deep, SECRETS["webhook secret"]),
        "long integer": (
            '{"entity": "e", "action": "a", "data": {"v": ' + "1" * 5000 + "}}",
            SECRETS["webhook secret"],
        ),
    }
    for index, (name, (body, secret)) in enumerate(bodies.items()):
        raw = body.encode()
        answer = httpx.post(f"{url}/hokusai/webhooks/mlflow", content=raw, headers=signed(raw, secret, f"d-{index}"))
        answers[name] = (answer.status_code, answer.json())
    return answers


def test_a_registered_secret_logged_by_provider_loggers_is_masked_in_the_api_server_logging(tmp_path: Path) -> None:
    """Airflow's logging as the API server sets it up, at DEBUG: the masker reaches provider and client loggers."""
    secret = "hostile-Registered-Secret-4c5d"
    script = f"""
import logging
import airflow  # configures logging as the API server does
from airflow_provider_hokusai.plugins._webhook_app import create_app
from airflow_provider_hokusai.utils.redaction import mask_secrets
create_app(secrets_loader=lambda: [])
mask_secrets([{secret!r}])
logging.getLogger("airflow_provider_hokusai.plugins._webhook_app").warning("secret is %s", {secret!r})
logging.getLogger("airflow.task.hooks.airflow_provider_hokusai.hooks.sqs.SQSQueueHook").debug("late %s", {secret!r})
logging.getLogger("urllib3.connectionpool").debug("GET https://u:%s@mlflow/api", "Url-Pa55-77aa")
"""
    env = clean_env(tmp_path, AIRFLOW__LOGGING__LOGGING_LEVEL="DEBUG")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, timeout=180, check=False
    )
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, output[-3000:]
    assert "secret is ***" in output and "late ***" in output and "GET https://***@mlflow/api" in output
    assert secret not in output and "Url-Pa55-77aa" not in output


# Poison message on a real queue.


def test_poison_message_from_a_real_redis_list_is_a_typed_refusal(redis_server: RedisProcess) -> None:
    client = redis_server.client()
    key = f"hostile:poison:{time.monotonic_ns()}"
    client.lpush(key, '{"baseline_value": ' + "9" * 4301 + "}", "[" * 2000 + "]" * 2000, b"\xff\xfe")
    try:
        while (raw := client.rpop(key)) is not None:
            with pytest.raises(InvalidModelReadyMessage):
                verify_model_ready(raw, {"k": "hostile-Consumer-Key-0123456789abcdef"}, require_signature=False)
    finally:
        client.delete(key)


# The console scripts, as installed.


def test_reconcile_refuses_an_unbounded_max_versions_in_one_line(tmp_path: Path) -> None:
    for bad in ("-1", "0", "100001", "lots"):
        done = subprocess.run(
            [str(BIN / "hokusai-reconcile"), "--queue-conn-id", "q", "--dry-run", f"--max-versions={bad}"],
            env=clean_env(tmp_path),
            capture_output=True,
            check=False,
            text=True,
            timeout=120,
        )
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.splitlines() == [
            "hokusai-reconcile: error: argument --max-versions: must be an integer from 1 to 100000"
        ]


def test_webhook_setup_at_debug_prints_nothing_but_json_on_stdout(mlflow_server: MLflowServer, tmp_path: Path) -> None:
    env = clean_env(
        tmp_path,
        AIRFLOW__LOGGING__LOGGING_LEVEL="DEBUG",
        AIRFLOW_CONN_MLFLOW_DEFAULT=mlflow_server.conn_uri,
        AIRFLOW_CONN_HOKUSAI_MLFLOW_WEBHOOK=json.dumps({"conn_type": "generic", "password": SECRETS["webhook secret"]}),
    )
    done = subprocess.run(
        [str(BIN / "hokusai-webhook"), "setup", "--api-url", "https://hokusai-receiver.invalid", "--no-test"],
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=180,
    )
    # MLflow refuses a receiver whose host does not resolve (.invalid never does): an error, so no JSON summary, and
    # nothing else on stdout either; the refusal is one line on stderr (docs/configuration.md's exit codes).
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("hokusai-webhook: error:")]
    assert len(errors) == 1 and errors[0].startswith("hokusai-webhook: error: MLflow refused the webhook"), errors
    assert "[debug" in done.stderr  # the logs are there, on stderr
    assert SECRETS["webhook secret"] not in done.stdout + done.stderr


# The Hokusai page against a real mlflow server.


class AllowAll:
    """An authorizer that lets the test in (Airflow's auth manager is exercised in tests/integration/plugins)."""

    async def user(self, request: Any, credentials: Any) -> str:
        return "tester"

    def may(self, user: Any, method: str, dag_id: str, *, run: bool = False) -> bool:
        return True


@dataclass
class UiServer:
    url: str
    mlflow: MLflowServer


@pytest.fixture(scope="module")
def ui_server(mlflow_server: MLflowServer) -> Iterator[UiServer]:
    """The page's app (registry read over REST from the real server), served by uvicorn in a thread."""
    import uvicorn

    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.plugins._ui_app import create_app
    from airflow_provider_hokusai.plugins.ui import UiSettings
    from airflow_provider_hokusai.plugins.ui_reader import RegistryReader

    os.environ["AIRFLOW_CONN_HOKUSAI_HOSTILE_MLFLOW"] = mlflow_server.conn_uri
    app = create_app(
        authorizer=AllowAll(),
        settings_loader=lambda: UiSettings(mlflow_conn_id="hokusai_hostile_mlflow"),
        reader_factory=lambda settings: RegistryReader(MLflowHook(settings.mlflow_conn_id)),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="hostile-ui", daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield UiServer(f"http://127.0.0.1:{port}", mlflow_server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        os.environ.pop("AIRFLOW_CONN_HOKUSAI_HOSTILE_MLFLOW", None)


def versions(server: UiServer, **params: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/versions", params=params, timeout=30)


def test_a_model_name_with_both_quotes_is_found_exactly(ui_server: UiServer) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=ui_server.mlflow.url, registry_uri=ui_server.mlflow.url)
    suffix = time.monotonic_ns()
    name, decoy = f'it\'s "quoted" {suffix}', f'it_s "quoted" {suffix}'  # the decoy matches the LIKE pattern too
    for model in (name, decoy):
        client.create_registered_model(model)
        client.create_model_version(model, "s3://bucket/model")

    answer = versions(ui_server, model=name)

    assert answer.status_code == 200, answer.text
    assert [(row["model"], row["version"]) for row in answer.json()["versions"]] == [(name, "1")]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=st.text(max_size=40) | st.text(max_size=10).map(lambda name: f"{name}'\"\\{name}"),
    token=st.none()
    | st.text(max_size=30)
    | st.sampled_from(["WzFd", "eyJvZmZzZXQiOiA5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OX0="]),
)
def test_any_query_is_answered_or_refused_never_an_outage(ui_server: UiServer, model: str, token: str | None) -> None:
    params = {"model": model, **({"page_token": token} if token is not None else {})}
    answer = versions(ui_server, **params)
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json()["kind"] == "bad_query", answer.text
    elif model.strip():  # a blank name is no filter
        assert all(row["model"] == model for row in answer.json()["versions"])

"""
What a user gets from ``pip install``, on Airflow's default configuration (issue 21).

The wheel is built from this tree and installed with its ``[all]`` extra into a fresh virtualenv that holds nothing
else but ``apache-airflow==3.3.2`` and the PostgreSQL drivers (pinned to ``requirements/lock.txt``, so ``uv`` takes
them from its cache). The deployment's DAGs folder holds only the one-line DAG file of docs/installation.md; its
``airflow.cfg`` only what a deployment must set (database, LocalExecutor, ports, the simple auth manager with every
user admin, DAGs folder, shared secrets; no example DAGs, one API worker) — no ``lazy_discover_providers``. A real
api-server, scheduler, dag-processor and triggerer run from that virtualenv, on a PostgreSQL database of the test's
own, with the testkit's redis-server and moto SQS and a real ``mlflow server`` (webhooks to private addresses
allowed). Connections exist only through ``airflow connections add``.

Asserted: ``/hokusai/health``, ``/hokusai/ui/`` and ``/hokusai/webhooks/mlflow`` answer with their own content; the
page's "Retry announcement" and "Reconcile now" runs, triggered as the page triggers them, succeed; and a version a
plain ``MlflowClient`` registers with the upstream tags is announced exactly once (one message on the queue, the
receipt on the version) through MLflow's webhook → the asset → ``hokusai_registry_events``, the webhook set up with
the virtualenv's ``hokusai-webhook setup``. Step timings are printed.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from hokusai_testkit.airflow import AirflowDeployment
from hokusai_testkit.matrix import build_wheel, lock_pins, locked_virtualenv
from hokusai_testkit.mlflow import MLflowServer, create_run, running_mlflow_server, unique, validated_tags
from hokusai_testkit.postgres import own_database
from hokusai_testkit.redis import RedisProcess, start_redis
from hokusai_testkit.sqs import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, create_queues, start_moto

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
ONE_LINE_DAG_FILE = REPO / "dags" / "hokusai_provider_dags.py"
LOCK = REPO / "requirements" / "lock.txt"
RECONCILE, RETRY, EVENTS = "hokusai_reconcile_announcements", "hokusai_announce_only", "hokusai_registry_events"
PROVIDER_DAGS = [RECONCILE, RETRY, EVENTS, "hokusai_registry_discovery"]
WEBHOOK_SECRET = "install-webhook-secret-6d0b1f3e9a"
REDIS_PASSWORD = "install-Redis-pw-91ab"
MLFLOW_ENV = {
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    # The server caches its webhook list per event type for this many seconds (60 by default): the earlier tests
    # register versions, so a webhook created less than a minute later would miss the next one (docs/webhooks.md).
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
}


@dataclass
class Timings:
    """Seconds per step, printed at the end."""

    start: float = field(default_factory=time.monotonic)
    steps: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.steps.append((name, time.monotonic() - began))

    def report(self) -> str:
        rows = [f"  {seconds:6.1f} s  {name}" for name, seconds in self.steps]
        return "\n".join(["clean install, step timings:", *rows, f"  {time.monotonic() - self.start:6.1f} s  total"])


@dataclass
class Stack:
    airflow: AirflowDeployment
    venv: Path
    mlflow: MLflowServer
    moto: MotoServer
    redis: RedisProcess
    queue_url: str
    timings: Timings


def run(args: list[str], timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    assert done.returncode == 0, f"{' '.join(args[:4])} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def clean_virtualenv(root: Path) -> Path:
    """Build the wheel, create a fresh virtualenv, install it with ``[all]``, Airflow and the drivers only."""
    wheel = build_wheel(UV, REPO, root / "wheel")
    venv = root / "venv"
    pins = lock_pins(LOCK)
    install = locked_virtualenv(venv, UV, sys.executable, pins)
    run(
        [
            *install,
            f"apache-airflow=={pins['apache-airflow']}",
            f"airflow-provider-hokusai[all] @ {wheel.as_uri()}",
            f"psycopg2-binary=={pins['psycopg2-binary']}",
            f"asyncpg=={pins['asyncpg']}",
        ]
    )
    python = venv / "bin" / "python"
    # The provider comes from the wheel in the virtualenv, not from this checkout.
    where = run([str(python), "-c", "import airflow_provider_hokusai as p; print(p.__file__)"], cwd=root).stdout
    assert where.strip().startswith(str(venv)), where
    return venv


def connections(stack_parts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the admin adds with ``airflow connections add``: the provider's types and the webhook secret."""
    moto, redis, mlflow, queue_url = (stack_parts[k] for k in ("moto", "redis", "mlflow", "queue_url"))
    sqs_extra = {"region_name": REGION, "endpoint_url": moto.endpoint, "queue": queue_url}
    return {
        "mlflow_default": {"conn_type": "mlflow", "host": "127.0.0.1", "port": mlflow.port},
        "hokusai_queue": {"conn_type": "hokusai_sqs", "login": ACCESS_KEY, "password": SECRET_KEY, "extra": sqs_extra},
        "hokusai_redis": {
            "conn_type": "hokusai_redis",
            "host": "127.0.0.1",
            "port": redis.port,
            "password": REDIS_PASSWORD,
        },
        "hokusai_mlflow_webhook": {"conn_type": "generic", "password": WEBHOOK_SECRET},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    timings = Timings()
    root = tmp_path_factory.mktemp("install")
    with contextlib.ExitStack() as cleanup:
        patch = cleanup.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        pool = cleanup.enter_context(ThreadPoolExecutor(1))
        with timings.step("build the wheel, fresh virtualenv, install (servers start meanwhile)"):
            installed = pool.submit(clean_virtualenv, root)
            database = cleanup.enter_context(own_database("hokusai_install"))
            redis = cleanup.enter_context(start_redis(password=REDIS_PASSWORD))
            moto = cleanup.enter_context(start_moto())
            # The FIFO queue, as docs/deployment.md recommends: concurrent runs for one version (the retry, the
            # triggered and the scheduled reconcile) may each publish it; SQS keeps one per message id. On a standard
            # queue the consumer deduplicates on the message_id attribute instead (docs/contract.md).
            queue_url = create_queues(moto)[1]
            (root / "mlflow").mkdir()
            mlflow = cleanup.enter_context(running_mlflow_server(root / "mlflow", timeout=300, env=MLFLOW_ENV))
            venv = installed.result()
        dags = root / "dags"
        dags.mkdir()
        (dags / ONE_LINE_DAG_FILE.name).write_text(ONE_LINE_DAG_FILE.read_text())
        airflow = AirflowDeployment(
            home=root / "home",
            database_url=database.sqlalchemy_url,
            dags_folder=dags,
            airflow_bin=venv / "bin" / "airflow",
            airflow_defaults=True,
            settings={
                "hokusai": {"health_queue_conn_ids": "hokusai_queue,hokusai_redis", "health_timeout_seconds": "20"}
            },
        )
        airflow.home.mkdir()
        config = airflow.write_config().read_text()
        assert "lazy_discover_providers" not in config and "load_examples = False" in config
        with timings.step("airflow db migrate"):
            airflow.migrate()
        with timings.step("airflow connections add (4, side by side)"):
            parts = {"moto": moto, "redis": redis, "mlflow": mlflow, "queue_url": queue_url}
            airflow.add_connections(connections(parts))
        cleanup.callback(airflow.stop)
        with timings.step("start api-server, scheduler, dag-processor, triggerer; healthy; DAGs parsed"):
            airflow.start()
            airflow.wait_healthy()
            airflow.wait_for_dags(PROVIDER_DAGS)
        stack = Stack(airflow, venv, mlflow, moto, redis, queue_url, timings)
        try:
            yield stack
        finally:
            print("\n" + timings.report())


# Helpers.


def wait_until(what: str, condition: Callable[[], Any], timeout: float, explain: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"{what} not within {timeout}s:\n{explain()}")


def diagnose(stack: Stack, dag_id: str, run_id: str) -> str:
    logs = sorted((stack.airflow.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/*.log"))
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs)
    return f"{tails}\n{stack.airflow.log_tail(chars=1500)}"


def wait_success(stack: Stack, dag_id: str, run_id: str, timeout: float = 180) -> None:
    def finished() -> str | None:
        state = str(stack.airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"])
        return state if state in ("success", "failed") else None

    state = wait_until(f"{dag_id} {run_id}", finished, timeout, lambda: diagnose(stack, dag_id, run_id))
    assert state == "success", diagnose(stack, dag_id, run_id)


def xcom(stack: Stack, dag_id: str, run_id: str, task_id: str) -> Any:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    response = stack.airflow.api("GET", path, params={"deserialize": True})
    assert response.status_code == 200, response.text
    value = response.json()["value"]
    return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


def trigger_as_the_page(stack: Stack, dag_id: str, conf: dict[str, Any]) -> str:
    """``POST /api/v2/dags/{dag_id}/dagRuns`` with the body the page's script sends (plugins/ui_static/hokusai.js)."""
    body = {"logical_date": None, "conf": conf, "note": "Triggered from the Hokusai page"}
    response = stack.airflow.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["dag_run_id"])


def queued_messages(stack: Stack) -> list[ModelReadyToDeployMessage]:
    """Every message on the queue, received and deleted."""
    client, bodies = stack.moto.client(), []
    for _ in range(3):  # a few empty polls in a row: the queue is drained
        batch = client.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in batch.get("Messages", []):
            bodies.append(message["Body"])
            client.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [ModelReadyToDeployMessage.from_json(body) for body in bodies]


def version_tags(stack: Stack, name: str, version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow.url, registry_uri=stack.mlflow.url)
    return dict(client.get_model_version(name, version).tags)


def owed_version(stack: Stack) -> tuple[str, str]:
    """A version validated and owed an announcement (as a release whose publish failed leaves it)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow.url, registry_uri=stack.mlflow.url)
    run_id = create_run(stack.mlflow.url, unique("install-exp"), metrics={"accuracy": 0.95})
    name = unique("install-owed")
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=validated_tags())
    return name, str(version.version)


# The test.


def test_the_plugin_answers_with_its_own_content(stack: Stack) -> None:
    with stack.timings.step("plugin endpoints"):
        # The API server's first SQS check imports boto3 (seconds on a busy machine): the answer may take a few tries.
        health = wait_until(
            "/hokusai/health 200",
            lambda: (answer := stack.airflow.api("GET", "/hokusai/health", timeout=60)).status_code == 200 and answer,
            90,
            lambda: stack.airflow.api("GET", "/hokusai/health", timeout=60).text,
        )
        assert {q["conn_id"]: q["reachable"] for q in health.json()["queues"]} == {
            "hokusai_queue": True,
            "hokusai_redis": True,
        }
        page = stack.airflow.api("GET", "/hokusai/ui/")
        assert page.status_code == 200 and "Reconcile now" in page.text, page.text[:500]
        actions = stack.airflow.api("GET", "/hokusai/ui/api/actions").json()
        assert {name: (a["dag_id"], a["exists"], a["note"]) for name, a in actions.items()} == {
            "reconcile": (RECONCILE, True, None),
            "retry": (RETRY, True, None),
        }
        unsigned = stack.airflow.api("POST", "/hokusai/webhooks/mlflow", content=b"{}")
        assert unsigned.status_code == 401 and unsigned.json()["status"] == "rejected", unsigned.text
        for secret in (REDIS_PASSWORD, SECRET_KEY, WEBHOOK_SECRET):
            assert secret not in health.text + page.text + unsigned.text


def test_retry_announcement_and_reconcile_now_end_in_success(stack: Stack) -> None:
    with stack.timings.step("'Retry announcement' and 'Reconcile now' runs"):
        retried, reconciled = owed_version(stack), owed_version(stack)
        for dag_id in (RETRY, RECONCILE):  # what the admin does once; the hourly reconcile also runs on unpause
            response = stack.airflow.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
            assert response.status_code == 200, response.text
        retry_run = trigger_as_the_page(stack, RETRY, {"model_name": retried[0], "model_version": retried[1]})
        reconcile_run = trigger_as_the_page(stack, RECONCILE, {})
        wait_success(stack, RETRY, retry_run)
        wait_success(stack, RECONCILE, reconcile_run)
        assert xcom(stack, RETRY, retry_run, "announce")["outcome"] in ("published", "already_published")
        messages = queued_messages(stack)
        for name, version in (retried, reconciled):
            mine = [m for m in messages if (m.model_name, m.model_version) == (name, version)]
            assert len(mine) == 1, [(m.model_name, m.model_version) for m in messages]
            tags = version_tags(stack, name, version)
            assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
            assert (receipt_from_tags(tags) or {}).get("message_id") == mine[0].message_id


def test_a_version_registered_by_plain_mlflow_is_announced_once_through_the_webhook(stack: Stack) -> None:
    from mlflow import MlflowClient

    with stack.timings.step("hokusai-webhook setup (from the virtualenv)"):
        setup = run(
            [str(stack.venv / "bin" / "hokusai-webhook"), "setup", "--api-url", stack.airflow.url],
            env=stack.airflow.env(),
            cwd=stack.airflow.home,
        )
        summary = json.loads(setup.stdout)
        assert summary["url"] == f"{stack.airflow.url}/hokusai/webhooks/mlflow", summary
        assert WEBHOOK_SECRET not in setup.stdout + setup.stderr
        response = stack.airflow.api("PATCH", f"/api/v2/dags/{EVENTS}", json={"is_paused": False})
        assert response.status_code == 200, response.text

    with stack.timings.step("plain MlflowClient registration -> webhook -> asset -> hokusai_registry_events"):
        client = MlflowClient(tracking_uri=stack.mlflow.url, registry_uri=stack.mlflow.url)
        run_id = create_run(stack.mlflow.url, unique("install-upstream-exp"), metrics={"accuracy": 0.93})
        name = unique("install-upstream")
        client.create_registered_model(name)
        upstream = {t.TOKEN_ID: "HKI", t.BENCHMARK_METRIC: "accuracy", t.BENCHMARK_VALUE: "0.9"}
        version = str(client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=upstream).version)

        def published_by_events() -> dict[str, Any] | None:
            runs = stack.airflow.api("GET", f"/api/v2/dags/{EVENTS}/dagRuns").json()["dag_runs"]
            for dag_run in runs:
                if dag_run["state"] == "success":
                    for outcome in xcom(stack, EVENTS, dag_run["dag_run_id"], "announce_registered_versions"):
                        if (outcome["model_name"], outcome["outcome"]) == (name, "published"):
                            return dict(outcome)
                assert dag_run["state"] != "failed", diagnose(stack, EVENTS, dag_run["dag_run_id"])
            return None

        def explain() -> str:
            runs = stack.airflow.api("GET", f"/api/v2/dags/{EVENTS}/dagRuns").json()["dag_runs"]
            seen = [(r["dag_run_id"], r["state"]) for r in runs]
            details = "\n".join(diagnose(stack, EVENTS, r["dag_run_id"]) for r in runs[-2:])
            api_log = (stack.airflow.home / "api-server.log").read_text(errors="replace").splitlines()
            deliveries = "\n".join(line for line in api_log if "webhook" in line.lower())
            return (
                f"events runs: {seen}\nversion tags: {version_tags(stack, name, version)}\n{details}\n"
                f"webhook lines of the API server's log:\n{deliveries}"
            )

        outcome = wait_until("the events DAG announcing the version", published_by_events, 180, explain)
        time.sleep(5)  # a late duplicate event or run would have published by now
        messages = [m for m in queued_messages(stack) if m.model_name == name]
        assert [(m.model_version, m.token_symbol) for m in messages] == [(version, "HKI")]
        tags = version_tags(stack, name, version)
        assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
        assert (receipt_from_tags(tags) or {}).get("message_id") == messages[0].message_id == outcome["message_id"]

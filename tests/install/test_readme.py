"""
README.md, followed literally by a new user (issue 22): its commands are read from the file, not copied here.

A fresh virtualenv gets Airflow (the user's Airflow: ``apache-airflow`` as locked and the PostgreSQL drivers), then
README's ``pip install "airflow-provider-hokusai[redis]"`` line, run by ``uv pip`` with the requirement pointed at the
wheel built from this tree. README's ``airflow connections add`` lines for ``mlflow_default`` and the Redis
``hokusai_queue`` run as written, with only the example hosts and ports swapped for the test's servers (a real
``mlflow server`` and a redis-server on loopback ports). README's release DAG is written to the DAGs folder as it stands
and triggered once in a real deployment on Airflow's defaults (api-server, scheduler, dag-processor, triggerer on a
PostgreSQL database of the test's own). Then the "See it work" commands: the message is on the Redis list README names,
the receipt is on the version, ``/hokusai/health`` answers 200 with the queue reachable, and
``hokusai-reconcile --dry-run`` finds nothing owed.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from hokusai_testkit.airflow import AirflowDeployment
from hokusai_testkit.matrix import build_wheel, lock_pins, locked_virtualenv
from hokusai_testkit.mlflow import MLflowServer, running_mlflow_server
from hokusai_testkit.postgres import own_database
from hokusai_testkit.redis import RedisProcess, start_redis

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
UV = Path(sys.executable).parent / "uv"
RELEASE_DAG = "churn_release"


def readme_block(heading: str, language: str) -> str:
    """The first ```` ```language ```` block under README's ``## heading``."""
    text = README.read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert found, f"README has no {language} block under '## {heading}'"
    return found.group(1)


def shell_commands(block: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    commands = (shlex.split(line, comments=True) for line in joined.splitlines())
    return [shlex.join(words) for words in commands if words]


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False, **kwargs)
    assert done.returncode == 0, f"{shlex.join(args[:6])} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def install_as_readme_says(root: Path) -> Path:
    """A virtualenv with the user's Airflow, then README's ``pip install`` line for Redis, from the built wheel."""
    (pip_line,) = [c for c in shell_commands(readme_block("Install", "bash")) if "[redis]" in c]
    command = shlex.split(pip_line)
    assert command[:2] == ["pip", "install"], pip_line
    wheel = build_wheel(UV, REPO, root / "wheel")
    venv = root / "venv"
    pins = lock_pins(REPO / "requirements" / "lock.txt")
    uv_pip = locked_virtualenv(venv, UV, sys.executable, pins)
    users_airflow = [f"{name}=={pins[name]}" for name in ("apache-airflow", "psycopg2-binary", "asyncpg")]
    run([*uv_pip, *users_airflow])
    requirements = [f"{r} @ {wheel.as_uri()}" if r.startswith("airflow-provider-hokusai") else r for r in command[2:]]
    run([*uv_pip, *requirements])
    return venv


def connection_commands(mlflow: MLflowServer, redis: RedisProcess) -> list[str]:
    """README's ``airflow connections add`` lines for MLflow and Redis, pointed at the test's servers."""
    commands = [c for c in shell_commands(readme_block("Connections", "bash")) if "hokusai_sqs" not in c]
    assert [shlex.split(c)[3] for c in commands] == ["mlflow_default", "hokusai_queue"], commands
    swapped = {
        "--conn-host mlflow.internal --conn-port 5000": f"--conn-host 127.0.0.1 --conn-port {mlflow.port}",
        "--conn-host redis.internal --conn-port 6379": f"--conn-host 127.0.0.1 --conn-port {redis.port}",
    }
    for example, ours in swapped.items():
        assert sum(example in c for c in commands) == 1, f"README no longer says {example!r}"
        commands = [c.replace(example, ours) for c in commands]
    return commands


@dataclass
class ReadmeStack:
    airflow: AirflowDeployment
    venv: Path
    mlflow: MLflowServer
    redis: RedisProcess


@pytest.fixture(scope="module")
def readme_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadmeStack]:
    root = tmp_path_factory.mktemp("readme")
    with contextlib.ExitStack() as cleanup:
        venv = install_as_readme_says(root)
        database = cleanup.enter_context(own_database("hokusai_readme"))
        redis = cleanup.enter_context(start_redis())
        (root / "mlflow").mkdir()
        mlflow = cleanup.enter_context(running_mlflow_server(root / "mlflow", timeout=300))
        dags = root / "dags"
        dags.mkdir()
        (dags / f"{RELEASE_DAG}.py").write_text(readme_block("A release DAG", "python"))
        airflow = AirflowDeployment(
            home=root / "home",
            database_url=database.sqlalchemy_url,
            dags_folder=dags,
            airflow_bin=venv / "bin" / "airflow",
            airflow_defaults=True,
            settings={"hokusai": {"health_queue_conn_ids": "hokusai_queue"}},
        )
        airflow.home.mkdir()
        airflow.write_config()
        airflow.migrate()
        for command in connection_commands(mlflow, redis):
            run(["bash", "-c", command], env=airflow.env(), cwd=airflow.home)
        cleanup.callback(airflow.stop)
        airflow.start()
        airflow.wait_healthy()
        airflow.wait_for_dags([RELEASE_DAG])
        yield ReadmeStack(airflow, venv, mlflow, redis)


def test_readme_from_pip_install_to_a_first_announcement(readme_stack: ReadmeStack) -> None:
    from mlflow import MlflowClient

    stack = readme_stack
    stack.airflow.unpause(RELEASE_DAG)
    stack.airflow.wait_run(RELEASE_DAG, stack.airflow.trigger(RELEASE_DAG))

    # README: "messages are LPUSHed onto the list hokusai:model_ready_queue".
    list_name = re.search(r"LPUSHed onto the list (\S+)", readme_block("Connections", "bash"))
    assert list_name, "README no longer names the Redis list"
    bodies = stack.redis.client().lrange(list_name.group(1), 0, -1)
    messages = [ModelReadyToDeployMessage.from_json(body) for body in bodies]
    assert [(m.model_name, m.model_version, m.token_symbol) for m in messages] == [("churn-classifier", "1", "CHURN")]
    client = MlflowClient(tracking_uri=stack.mlflow.url, registry_uri=stack.mlflow.url)
    tags = dict(client.get_model_version("churn-classifier", "1").tags)
    assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert (receipt_from_tags(tags) or {}).get("message_id") == messages[0].message_id

    # README "See it work": the health endpoint and the dry run.
    health = stack.airflow.api("GET", "/hokusai/health", timeout=60)
    assert health.status_code == 200, health.text
    assert [(q["conn_id"], q["reachable"]) for q in health.json()["queues"]] == [("hokusai_queue", True)]
    dry_run = run(
        [str(stack.venv / "bin" / "hokusai-reconcile"), "--dry-run"], env=stack.airflow.env(), cwd=stack.airflow.home
    )
    assert json.loads(dry_run.stdout) == {"found": 0, "would_publish": [], "truncated": False}, dry_run.stdout

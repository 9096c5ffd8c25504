"""
``hokusai-reconcile`` and ``hokusai-webhook`` as installed, run as subprocesses against a real ``mlflow server`` and
redis-server: the exit codes their ``--help`` documents (0 done, 1 still owed, 2 usage or configuration error), the
JSON on stdout, one line on stderr for an error, and no file created in ``AIRFLOW_HOME`` by a dry run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hokusai_testkit.mlflow import MLflowServer, registered_version, validated_tags
from hokusai_testkit.redis import RedisProcess

BIN = Path(sys.executable).parent
TIMEOUT = 300


def run(command: str, *args: str, env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, in a fresh AIRFLOW_HOME of its own, with only the connections in ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__DATABASE__"))}
    base.update(AIRFLOW_HOME=str(home), **env)
    return subprocess.run(
        [str(BIN / command), *args], capture_output=True, text=True, timeout=TIMEOUT, env=base, check=False
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "airflow-home"
    path.mkdir()
    return path


def test_dry_run_reads_mlflow_only_and_creates_no_metadata_database(mlflow_server: MLflowServer, home: Path) -> None:
    name, version, _ = registered_version(mlflow_server.url, validated_tags(), "cli-dry")

    done = run("hokusai-reconcile", "--dry-run", "--model", name, env={"AIRFLOW_CONN_MLFLOW_DEFAULT":
               mlflow_server.conn_uri}, home=home)  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["would_publish"] == [{"model_name": name, "model_version": version}]
    assert not (home / "airflow.db").exists()


def test_reconcile_exits_0_when_all_is_announced_and_1_when_a_version_is_still_owed(
    mlflow_server: MLflowServer, redis_server: RedisProcess, home: Path
) -> None:
    name, _, _ = registered_version(mlflow_server.url, validated_tags(), "cli-owed")
    env = {"AIRFLOW_CONN_MLFLOW_DEFAULT": mlflow_server.conn_uri, "AIRFLOW_CONN_CLI_QUEUE": redis_server.conn_json()}
    # The list the announcement goes to holds a string: Redis refuses the push (WRONGTYPE), the version stays owed.
    broken, good = f"cli-test:{uuid.uuid4().hex}", f"cli-test:{uuid.uuid4().hex}"
    redis_server.client().set(broken, "not a list")
    try:
        owed = run("hokusai-reconcile", "--queue-conn-id", "cli_queue", "--queue-name", broken, "--model", name,
                   env=env, home=home)  # fmt: skip
        assert owed.returncode == 1, owed.stderr[-2000:]
        assert [f["model_version"] for f in json.loads(owed.stdout)["failed"]] == ["1"]

        done = run("hokusai-reconcile", "--queue-conn-id", "cli_queue", "--queue-name", good, "--model", name,
                   env=env, home=home)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert (json.loads(done.stdout)["published"], redis_server.client().llen(good)) == (1, 1)
    finally:
        redis_server.client().delete(broken, good)


def test_check_without_the_mlflow_connection_is_a_one_line_configuration_error(
    redis_server: RedisProcess, home: Path
) -> None:
    done = run("hokusai-reconcile", "--check", "--queue-conn-id", "cli_queue",
               env={"AIRFLOW_CONN_CLI_QUEUE": redis_server.conn_json()}, home=home)  # fmt: skip

    assert done.returncode == 2
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("hokusai-reconcile: error:")]
    assert errors == [
        "hokusai-reconcile: error: InvalidConfigurationError: invalid mlflow connection (1 error(s)): "
        "mlflow_conn_id: connection 'mlflow_default' is not defined"
    ]
    assert not (home / "airflow.db").exists()


def test_webhook_setup_without_its_secret_is_a_one_line_configuration_error(
    mlflow_server: MLflowServer, home: Path
) -> None:
    done = run("hokusai-webhook", "setup", "--api-url", "http://127.0.0.1:9", "--no-test",
               env={"AIRFLOW_CONN_MLFLOW_DEFAULT": mlflow_server.conn_uri}, home=home)  # fmt: skip

    assert done.returncode == 2
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("hokusai-webhook: error:")]
    assert len(errors) == 1 and "hokusai_mlflow_webhook" in errors[0], done.stderr[-2000:]

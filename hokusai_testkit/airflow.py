"""
A real Airflow deployment on loopback: ``airflow api-server``, ``scheduler`` (LocalExecutor), ``dag-processor`` and
``triggerer`` as separate processes on a PostgreSQL metadata database, all configured by one ``airflow.cfg`` in the
deployment's own ``AIRFLOW_HOME``.

Every process gets the caller's environment without any ``AIRFLOW__*``, ``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*`` or
``MLFLOW_*`` variable, so what the components see comes from the configuration file and the metadata database only.
Each component runs in a process group of its own, and :meth:`AirflowDeployment.stop` ends exactly those groups.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hokusai_testkit.ports import LOOPBACK, free_port, stop_process_groups

AIRFLOW_BIN = Path(sys.executable).parent / "airflow"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
_STRIPPED_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "MLFLOW_")
_HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class DeploymentError(RuntimeError):
    """A component or command of the deployment failed; the message holds the tail of its output."""


def outside_environment() -> dict[str, str]:
    """This process's environment without the Airflow and MLflow settings of the caller (a stack sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_PREFIXES) and k != "AIRFLOW_HOME"}


def run_airflow(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    error: type[Exception],
    airflow_bin: Path = AIRFLOW_BIN,
) -> subprocess.CompletedProcess[str]:
    """
    Run ``airflow <args>`` in ``env`` and ``cwd``; its output captured.

    :param airflow_bin: The ``airflow`` executable (this interpreter's by default, or another virtualenv's).

    :raises error: it exited non-zero (with the tail of its stderr) or did not end within ``timeout`` seconds.
    """
    try:
        done = subprocess.run(
            [str(airflow_bin), *args],
            capture_output=True,
            text=True,
            env=dict(env),
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise error(f"airflow {args[0]} did not end within {timeout}s") from None
    if done.returncode != 0:
        raise error(f"airflow {' '.join(args[:2])} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


@dataclass
class AirflowDeployment:
    """
    An Airflow deployment owned by its caller.

    :param home: Its ``AIRFLOW_HOME`` (an empty directory): ``airflow.cfg``, one log per component, task logs.
    :param database_url: The SQLAlchemy URL of its metadata database (PostgreSQL, created by the caller).
    :param dags_folder: The DAGs folder.
    :param settings: More ``airflow.cfg`` options, ``{section: {option: value}}``, over the defaults here.
    :param environment: Variables every process gets besides the caller's (e.g. what a DAG file reads).
    :param airflow_bin: The ``airflow`` executable every component and command runs: this interpreter's by default,
        or that of another virtualenv (whose ``bin`` then comes first on ``PATH``), e.g. a clean install.
    :param airflow_defaults: Only what a deployment must set (database, executor, ports, auth manager, DAGs folder,
        shared secrets), plus no example DAGs and one API worker; otherwise also the test settings below (a small
        ``parallelism``, the connection Test button, a larger triggerer capacity).
    """

    home: Path
    database_url: str
    dags_folder: Path
    settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    airflow_bin: Path = AIRFLOW_BIN
    airflow_defaults: bool = False
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        """The API server's base URL."""
        return f"http://{LOOPBACK}:{self.api_port}"

    def config(self) -> dict[str, dict[str, str]]:
        """
        The ``airflow.cfg`` this deployment runs with: Airflow's defaults but what a deployment must set (database,
        LocalExecutor, ports, the simple auth manager with every user admin, DAGs folder, secrets) and the
        connection Test button; providers are discovered lazily, as by default.
        """
        from cryptography.fernet import Fernet

        sections: dict[str, dict[str, str]] = {
            "core": {
                "dags_folder": str(self.dags_folder),
                "executor": "LocalExecutor",
                # Not a must, but the ~80 example DAGs (and their plugins) would only slow every component down.
                "load_examples": "False",
                "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "simple_auth_manager_all_admins": "True",
                "execution_api_server_url": f"{self.url}/execution/",
                "fernet_key": Fernet.generate_key().decode(),
            },
            "database": {"sql_alchemy_conn": self.database_url},
            "api": {"host": LOOPBACK, "port": str(self.api_port), "base_url": self.url, "workers": "1"},
            "api_auth": {"jwt_secret": secrets.token_hex(32)},
            "logging": {
                "base_log_folder": str(self.home / "logs"),
                "worker_log_server_port": str(free_port()),
                "trigger_log_server_port": str(free_port()),
            },
        }
        if not self.airflow_defaults:
            sections["core"] |= {"parallelism": "4", "test_connection": "Enabled"}
            sections["scheduler"] = {"enable_health_check": "False"}
            sections["triggerer"] = {"capacity": "50"}
        for section, options in self.settings.items():
            sections.setdefault(section, {}).update(options)
        return sections

    def write_config(self) -> Path:
        """Write ``airflow.cfg`` into :attr:`home` (secrets generated once per deployment); its path."""
        path = self.home / "airflow.cfg"
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_dict(self.config())
        with path.open("w") as out:
            parser.write(out)
        return path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process of this deployment: no Airflow/MLflow variables but its own."""
        own = {"AIRFLOW_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        if self.airflow_bin != AIRFLOW_BIN:
            outside = outside_environment()
            own |= {"PATH": os.pathsep.join([str(self.airflow_bin.parent), outside.get("PATH", os.defpath)])}
            own |= {"VIRTUAL_ENV": str(self.airflow_bin.parent.parent)}
        return outside_environment() | dict(self.environment) | own | extra

    def cli(self, *args: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
        """
        Run ``airflow <args>`` against this deployment.

        :raises DeploymentError: it failed or did not end within ``timeout`` seconds.
        """
        return run_airflow(
            args, env=self.env(), cwd=self.home, timeout=timeout, error=DeploymentError, airflow_bin=self.airflow_bin
        )

    def migrate(self) -> None:
        """``airflow db migrate``."""
        self.cli("db", "migrate", timeout=300)

    def add_connections(self, connections: Mapping[str, Mapping[str, Any]], timeout: float = 180.0) -> None:
        """
        ``airflow connections add <id> --conn-json <json>`` for each connection, run side by side (metadata DB).

        :raises DeploymentError: one of them failed (its stderr tail, which holds no connection field).
        """
        running = {
            conn_id: subprocess.Popen(
                [str(self.airflow_bin), "connections", "add", conn_id, "--conn-json", json.dumps(dict(conn))],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=self.env(),
                cwd=self.home,
            )
            for conn_id, conn in connections.items()
        }
        deadline = time.monotonic() + timeout
        failed: list[str] = []
        for conn_id, process in running.items():
            try:
                _, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                failed.append(f"{conn_id}: timed out")
                continue
            if process.returncode != 0:
                failed.append(f"{conn_id}: exit {process.returncode}: {err.decode(errors='replace')[-1500:]}")
        if failed:
            raise DeploymentError("airflow connections add failed:\n" + "\n".join(failed))

    def start(self, components: Iterable[str] = COMPONENTS) -> None:
        """Start the components, each in a process group of its own, logging to ``<home>/<component>.log``."""
        for component in components:
            args = ["--host", LOOPBACK, "--port", str(self.api_port)] if component == "api-server" else []
            with (self.home / f"{component}.log").open("wb") as log:
                self.processes[component] = subprocess.Popen(
                    [str(self.airflow_bin), component, *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env(),
                    cwd=self.home,
                    start_new_session=True,
                )

    def api(self, method: str, path: str, *, timeout: float = 60.0, **kwargs: Any) -> Any:
        """One request to the API server (``path`` from the root, e.g. ``/api/v2/dags``); the httpx response."""
        import httpx

        return httpx.request(method, f"{self.url}{path}", timeout=timeout, **kwargs)

    def check_running(self) -> None:
        """:raises DeploymentError: a component has exited (its log's tail in the message)."""
        for component, process in self.processes.items():
            if process.poll() is not None:
                raise DeploymentError(f"{component} exited with {process.returncode}:\n{self.log_tail(component)}")

    def wait_healthy(self, timeout: float = 180.0) -> None:
        """
        Wait until ``/api/v2/monitor/health`` reports the database, scheduler, triggerer and DAG processor healthy.

        :raises DeploymentError: a component exited, or they were not all healthy within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check_running()
            with contextlib.suppress(Exception):
                last = self.api("GET", "/api/v2/monitor/health", timeout=5).json()
                if all((last.get(c) or {}).get("status") == "healthy" for c in _HEALTHY_COMPONENTS):
                    return
            time.sleep(1)
        raise DeploymentError(f"not healthy within {timeout}s: {last}\n{self.log_tail()}")

    def wait_for_dags(self, dag_ids: Sequence[str], timeout: float = 180.0) -> None:
        """
        Wait until the DAG processor has stored every DAG of ``dag_ids``.

        :raises DeploymentError: not all of them within ``timeout`` seconds (the import errors in the message).
        """
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            self.check_running()
            missing = [d for d in dag_ids if self.api("GET", f"/api/v2/dags/{d}", timeout=10).status_code != 200]
            if not missing:
                return
            time.sleep(2)
        errors = self.api("GET", "/api/v2/importErrors", timeout=10).text
        raise DeploymentError(f"DAGs {missing} not parsed within {timeout}s; import errors: {errors[-3000:]}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM each component's process group, then SIGKILL what is left after ``timeout`` seconds."""
        stop_process_groups(self.processes.values(), timeout)

    def log_tail(self, component: str | None = None, chars: int = 3000) -> str:
        """The end of one component's log, or of each one's."""
        names = [component] if component else list(self.processes)
        tails = []
        for name in names:
            path = self.home / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            tails.append(f"--- {name} ---\n{text[-chars:]}")
        return "\n".join(tails)

    # The REST calls a user (or the Hokusai page) makes to run a DAG and read what it did.

    def unpause(self, dag_id: str) -> None:
        """:raises DeploymentError: the API refused it."""
        self._ok(self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}))

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a run now (``logical_date`` null, as the UI's Trigger button does); its run id."""
        body = {"logical_date": None, "conf": dict(conf or {})}
        return str(self._ok(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body))["dag_run_id"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """The task instance as the API answers it (``state``, ``start_date``, ``end_date``, ``duration`` ...)."""
        return dict(self._ok(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")))

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """A task's ``return_value``, deserialized."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        value = self._ok(self.api("GET", path, params={"deserialize": True}))["value"]
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value

    def diagnose(self, dag_id: str, run_id: str) -> str:
        """The run's task states, the end of each of its task logs and of the components' logs, for an error."""
        answer = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
        states = {ti["task_id"]: ti["state"] for ti in answer.get("task_instances", [])}
        logs = sorted((self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/*.log"))
        tails = "\n".join(f"--- {p.relative_to(self.home)}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)
        return f"{dag_id} {run_id}: {states}\n{tails}\n{self.log_tail(chars=1500)}"

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> None:
        """
        Wait for a run to end.

        :raises DeploymentError: it failed, or had not ended within ``timeout`` seconds (with :meth:`diagnose`).
        """
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline and state not in ("success", "failed"):
            self.check_running()
            time.sleep(0.5)
            state = str(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"])
        if state != "success":
            raise DeploymentError(f"run {state or 'not ended'} within {timeout}s:\n{self.diagnose(dag_id, run_id)}")

    @staticmethod
    def _ok(response: Any) -> Any:
        if response.status_code != 200:
            raise DeploymentError(f"{response.request.method} {response.request.url.path}: {response.text[:1000]}")
        return response.json()

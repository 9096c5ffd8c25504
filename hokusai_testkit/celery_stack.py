"""
Airflow on the CeleryExecutor, on loopback: ``api-server``, ``scheduler``, ``dag-processor`` and several ``airflow
celery worker`` processes, with a Redis broker, the result backend and the metadata on a PostgreSQL database of the
stack's own (created by :func:`hokusai_testkit.postgres.own_database`, dropped afterwards).

Every process gets the caller's environment without any ``AIRFLOW__*``, ``AIRFLOW_CONN_*`` or ``MLFLOW_*``
variable, plus the stack's own settings. Each runs in a process group of its own; :meth:`CeleryStack.stop` ends
exactly those groups.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hokusai_testkit.airflow import AIRFLOW_BIN, outside_environment, run_airflow
from hokusai_testkit.ports import LOOPBACK, free_port, stop_process_groups, wait_for_port
from hokusai_testkit.postgres import PG_PORT, PG_USER


class StackError(RuntimeError):
    """A component or command of the stack failed; the message holds the tail of its output."""


@dataclass
class CeleryStack:
    """
    An Airflow deployment on the CeleryExecutor owned by its caller.

    :param home: Its ``AIRFLOW_HOME`` (an empty directory): one log per component, task logs.
    :param database: Name of its PostgreSQL database (metadata and Celery results).
    :param broker_url: The Celery broker (``redis://...``).
    :param dags_folder: The DAGs folder.
    :param environment: Variables every process gets (connections, ...).
    :param worker_concurrency: Task slots of each worker.
    """

    home: Path
    database: str
    broker_url: str
    dags_folder: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    worker_concurrency: int = 2
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)
    _secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        """The API server's base URL."""
        return f"http://{LOOPBACK}:{self.api_port}"

    def settings(self) -> dict[str, str]:
        """Airflow's configuration for every process, as ``AIRFLOW__*`` variables (secrets made once per stack)."""
        from cryptography.fernet import Fernet

        if not self._secrets:
            self._secrets = {"fernet": Fernet.generate_key().decode(), "jwt": secrets.token_hex(32)}
        pg = f"{PG_USER}@{LOOPBACK}:{PG_PORT}/{self.database}"
        options = {
            "CORE__EXECUTOR": "CeleryExecutor",
            "CORE__DAGS_FOLDER": str(self.dags_folder),
            "CORE__LOAD_EXAMPLES": "False",
            "CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "CORE__PARALLELISM": "16",
            "CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "CORE__FERNET_KEY": self._secrets["fernet"],
            "DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}",
            "API__HOST": LOOPBACK,
            "API__PORT": str(self.api_port),
            "API__WORKERS": "1",
            "API_AUTH__JWT_SECRET": self._secrets["jwt"],
            "LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "CELERY__BROKER_URL": self.broker_url,
            "CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{pg}",
            "CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
        }
        return {f"AIRFLOW__{key}": value for key, value in options.items()}

    def env(self) -> dict[str, str]:
        """The environment of a process of this stack: no Airflow/MLflow variables but its own."""
        return outside_environment() | dict(self.environment) | self.settings() | {"AIRFLOW_HOME": str(self.home)}

    def migrate(self, timeout: float = 300.0) -> None:
        """
        ``airflow db migrate``.

        :raises StackError: it failed or did not end within ``timeout`` seconds.
        """
        run_airflow(("db", "migrate"), env=self.env(), cwd=self.home, timeout=timeout, error=StackError)

    def _start(self, name: str, *args: str) -> None:
        with (self.home / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [str(AIRFLOW_BIN), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.home,
                start_new_session=True,
            )

    def start(self, workers: int = 2) -> list[str]:
        """
        Start the API server, scheduler, DAG processor and ``workers`` Celery workers.

        :return: The workers' Celery host names (``worker<i>@hokusai-test``).
        """
        self._start("api-server", "api-server", "--host", LOOPBACK, "--port", str(self.api_port), "--workers", "1")
        self._start("scheduler", "scheduler")
        self._start("dag-processor", "dag-processor")
        names = []
        for i in range(1, workers + 1):
            names.append(f"worker{i}@hokusai-test")
            worker = ["celery", "worker", "--celery-hostname", names[-1], "--skip-serve-logs"]
            self._start(f"worker{i}", *worker, "--without-mingle", "--without-gossip")
        return names

    def check_running(self) -> None:
        """:raises StackError: a component has exited (its log's tail in the message)."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def wait_ready(self, timeout: float = 240.0) -> None:
        """
        Wait until the API server answers and every Celery worker logged that it is ready.

        :raises StackError: a component exited, or the stack was not ready within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        wait_for_port(self.api_port, timeout=timeout)
        workers = [name for name in self.processes if name.startswith("worker")]
        while time.monotonic() < deadline:
            self.check_running()
            waiting = [w for w in workers if " ready." not in self.log(w)]
            if not waiting and self._api_answers():
                return
            time.sleep(1)
        raise StackError(f"not ready within {timeout}s\n{self.log_tail()}")

    def _api_answers(self) -> bool:
        with contextlib.suppress(Exception):
            return int(self.api("GET", "/api/v2/version", timeout=5).status_code) == 200
        return False

    def api(self, method: str, path: str, *, timeout: float = 60.0, **kwargs: Any) -> Any:
        """One request to the API server (``path`` from the root, e.g. ``/api/v2/dags``); the httpx response."""
        import httpx

        return httpx.request(method, f"{self.url}{path}", timeout=timeout, **kwargs)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM each component's process group, then SIGKILL what is left after ``timeout`` seconds."""
        stop_process_groups(self.processes.values(), timeout)

    def log(self, name: str) -> str:
        """One component's log so far."""
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, name: str | None = None, chars: int = 2500) -> str:
        """The end of one component's log, or of each one's."""
        names = [name] if name else list(self.processes)
        return "\n".join(f"--- {n} ---\n{self.log(n)[-chars:]}" for n in names)

"""
Real MLflow: ``mlflow server`` on a free loopback port (sqlite backend, local artifacts), plus helpers that log
runs, a small real scikit-learn model and registered versions to any tracking URI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hokusai_testkit.ports import LOOPBACK, free_port

MLFLOW_BIN = Path(sys.executable).parent / "mlflow"
SERVER_START_TIMEOUT = 120.0


@dataclass(frozen=True)
class MLflowServer:
    """
    A running ``mlflow server``.

    :param url: ``http://127.0.0.1:<port>``, its tracking URI.
    :param conn_uri: ``mlflow://127.0.0.1:<port>``, an Airflow ``mlflow`` connection URI.
    :param root: Its data directory (sqlite store, artifacts, log).
    :param port: Its port.
    """

    url: str
    conn_uri: str
    root: Path
    port: int


@dataclass(frozen=True)
class LoggedCandidate:
    """A finished run with a logged sklearn model."""

    run_id: str
    experiment_id: str
    experiment_name: str
    model_id: str
    runs_uri: str
    models_uri: str


def _server_env() -> dict[str, str]:
    # The server must not inherit a tracking URI or credentials meant for some other MLflow.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"mlflow server not healthy within {timeout}s:\n{log_path.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The server runs uvicorn workers as children; they share the process group created for it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@contextlib.contextmanager
def running_mlflow_server(
    root: Path,
    timeout: float = SERVER_START_TIMEOUT,
    env: Mapping[str, str] | None = None,
    app_name: str | None = None,
    admin_password: str | None = None,
) -> Iterator[MLflowServer]:
    """
    Run ``mlflow server`` (one worker, sqlite store and artifacts under ``root``) for the duration of the block.

    :param root: An existing directory for its data and ``server.log``.
    :param timeout: Seconds to wait for ``/health`` at most.
    :param env: Extra environment for the server, e.g. ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true`` (and
        ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https``) so that it delivers webhooks to a loopback receiver.
    :param app_name: ``--app-name``, e.g. ``basic-auth`` (its ``MLFLOW_AUTH_CONFIG_PATH`` given in ``env``).
    :param admin_password: Run MLflow's basic-auth app (``--app-name basic-auth``; its user store in ``root``, its
        default configuration): every request needs HTTP basic auth, ``admin`` with this password to begin with.
    :raises RuntimeError: The server exited during start-up (its log's tail in the message).
    :raises TimeoutError: It was not healthy within ``timeout`` seconds.
    """
    port = free_port()
    log_path = root / "server.log"
    args = [
        str(MLFLOW_BIN),
        "server",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    extra_env = dict(env or {})
    if admin_password is not None:
        app_name = app_name or "basic-auth"
        extra_env["MLFLOW_AUTH_ADMIN_PASSWORD"] = admin_password
        # The auth app's CSRF protection needs a static key; one per server is enough for a test.
        extra_env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", uuid.uuid4().hex)
    if app_name:
        args += ["--app-name", app_name]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            env={**_server_env(), **extra_env},
            start_new_session=True,
        )
    url = f"http://{LOOPBACK}:{port}"
    try:
        _wait_healthy(url, process, log_path, timeout)
        yield MLflowServer(url=url, conn_uri=f"mlflow://{LOOPBACK}:{port}", root=root, port=port)
    finally:
        _stop(process)


def create_sqlite_store(root: Path) -> str:
    """
    An embedded sqlite tracking/registry store in ``root``, with MLflow's schema migrations already run.

    :return: Its tracking URI, ``sqlite:////abs/path/mlflow.db``.
    """
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    return uri


def unique(prefix: str) -> str:
    """A name no other caller uses (tests share one server per session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_run(
    tracking_uri: str,
    experiment_name: str,
    *,
    metrics: Mapping[str, float] | None = None,
    status: str | None = "FINISHED",
    tags: Mapping[str, str] | None = None,
) -> str:
    """
    Create a run with ``metrics`` in ``experiment_name`` (created when missing).

    :param status: The run's final status; None leaves it RUNNING.
    :return: The run id.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(experiment_name)
    run = client.create_run(experiment_id, tags=dict(tags or {}))
    for key, value in (metrics or {}).items():
        client.log_metric(run.info.run_id, key, value)
    if status is not None:
        client.set_terminated(run.info.run_id, status=status)
    return str(run.info.run_id)


def validated_tags(**overrides: str | None) -> dict[str, str]:
    """
    The version tags RegisterModelOperator writes after a passed gate (token ``HOK``, accuracy 0.95 vs 0.9), the
    pending mark included.

    :param overrides: Tag → value; a value of None drops that tag.
    """
    from airflow_provider_hokusai.registry import tags as t

    version_tags: dict[str, str | None] = {
        t.STATUS: t.STATUS_VALIDATED,
        t.TOKEN_ID: "HOK",
        t.BENCHMARK_METRIC: "accuracy",
        t.BENCHMARK_VALUE: "0.9",
        t.CURRENT_VALUE: "0.95",
        t.DIRECTION: "higher_is_better",
        t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_PENDING,
    }
    version_tags.update(overrides)
    return {k: v for k, v in version_tags.items() if v is not None}


def registered_version(tracking_uri: str, version_tags: Mapping[str, str], prefix: str) -> tuple[str, str, str]:
    """
    A version of a fresh registered model, from a finished run, carrying ``version_tags``.

    :return: The model name, version and run id.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    run_id = create_run(tracking_uri, unique(f"{prefix}-exp"), metrics={"accuracy": 0.95})
    name = unique(f"{prefix}-model")
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=dict(version_tags))
    return name, str(version.version), run_id


def log_sklearn_candidate(
    tracking_uri: str,
    experiment_name: str,
    metrics: Mapping[str, float],
    *,
    name: str = "model",
    artifact_location: str | None = None,
) -> LoggedCandidate:
    """
    Train a tiny LogisticRegression on iris and log it with ``mlflow.sklearn.log_model`` in a finished run.

    :param artifact_location: The experiment's artifact location; give it for embedded stores, or the artifacts
        land in ``./mlruns``.
    """
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.tracking._tracking_service import utils as tracking_utils
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    client = MlflowClient(tracking_uri=tracking_uri)
    if client.get_experiment_by_name(experiment_name) is None:
        client.create_experiment(experiment_name, artifact_location=artifact_location)

    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(features, labels)
    # The fluent API is process-global; confine it to this helper and restore what was there.
    previous = tracking_utils._tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    try:
        experiment_id = mlflow.set_experiment(experiment_name).experiment_id
        with mlflow.start_run(experiment_id=experiment_id) as run:
            # cloudpickle: the default skops format scans every imported module (slow, noisy) for a tiny model.
            info = mlflow.sklearn.log_model(model, name=name, serialization_format="cloudpickle")
            for key, value in metrics.items():
                mlflow.log_metric(key, value)
    finally:
        tracking_utils._tracking_uri = previous
    return LoggedCandidate(
        run_id=run.info.run_id,
        experiment_id=str(experiment_id),
        experiment_name=experiment_name,
        model_id=str(info.model_id),
        runs_uri=f"runs:/{run.info.run_id}/{name}",
        models_uri=f"models:/{info.model_id}",
    )


class RecordingTI:
    """Just enough of a task instance to run an operator or a reschedule-mode sensor without a scheduler."""

    def __init__(self) -> None:
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        """Keep ``value`` under ``key``."""
        self.xcoms[key] = value

    def get_first_reschedule_date(self, context: object) -> None:
        """Never rescheduled before."""
        return None


def minimal_context() -> dict[str, object]:
    """A task context with only a :class:`RecordingTI`."""
    return {"ti": RecordingTI()}

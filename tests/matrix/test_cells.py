"""
The compatibility matrix (docs/compatibility.md): each cell of :data:`hokusai_testkit.matrix.CELLS`, one at a time.

Per cell: the wheel built from this tree, installed with the cell's extras, Airflow, mlflow-skinny, provider versions
and pins into a fresh virtualenv (nothing else: no lock file), on Airflow's default configuration (its SQLite
metadata DB, its ``dags`` folder under ``AIRFLOW_HOME``; only ``load_examples`` off). Connections come from
``AIRFLOW_CONN_*`` variables. Against real servers started once for the matrix — ``redis-server``, moto's SQS and an
``mlflow server`` (the development environment's MLflow; the cell's client is its mlflow-skinny) — it checks:

* ``airflow providers list`` / ``airflow plugins`` show the provider and its plugin;
* the provider's DAGs (the one-line DAG file) and the example release DAG import without errors;
* ``/hokusai/health``, ``/hokusai/ui/`` and ``/hokusai/webhooks/mlflow`` answer with their own content in a real
  ``airflow api-server`` (which answers unknown GET paths with its UI page, so the content is what is checked);
* a release DAG run by ``dag.test()`` in the cell's interpreter: the baseline sensor against the real MLflow server,
  registration, and one announcement per backend of the cell through PublishModelReadyOperator; the message is on
  the queue and its receipt on the version.

Step timings, the package count and the size of each cell's ``site-packages`` are printed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.queue.settings import DEFAULT_QUEUE
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from hokusai_testkit.airflow import AirflowDeployment
from hokusai_testkit.matrix import CELLS, Cell, build_wheel, cell_virtualenv, installed_versions, site_packages_size
from hokusai_testkit.mlflow import MLflowServer, create_run, running_mlflow_server, unique
from hokusai_testkit.redis import RedisProcess, start_redis
from hokusai_testkit.sqs import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, create_queues, start_moto

pytestmark = [pytest.mark.matrix, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
DAG_FILES = [REPO / "dags" / "hokusai_provider_dags.py", REPO / "dags" / "hokusai_model_release.py"]
EXPECTED_DAGS = {
    "hokusai_reconcile_announcements",
    "hokusai_announce_only",
    "hokusai_registry_events",
    "hokusai_registry_discovery",
    "hokusai_model_release",
}
RELEASE_SCRIPT = Path(__file__).with_name("release_in_cell.py")
REDIS_PASSWORD = "matrix-Redis-pw-5c1e"
WEBHOOK_SECRET = "matrix-webhook-secret-0e4b7c"


@dataclass
class Servers:
    mlflow: MLflowServer
    redis: RedisProcess
    moto: MotoServer
    queue_url: str


@dataclass
class CellRun:
    cell: Cell
    python: Path
    airflow: AirflowDeployment
    servers: Servers
    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Time the block as ``step`` (a step that fails is not timed: its failure is the news)."""
        began = time.monotonic()
        yield
        self.seconds[step] = time.monotonic() - began


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(UV, REPO, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("servers")
    with contextlib.ExitStack() as stack:
        mlflow = stack.enter_context(running_mlflow_server(root, timeout=300))
        redis = stack.enter_context(start_redis(password=REDIS_PASSWORD))
        moto = stack.enter_context(start_moto())
        # The FIFO queue, as docs/deployment.md recommends.
        yield Servers(mlflow, redis, moto, create_queues(moto)[1])


def environment(cell: Cell, servers: Servers) -> dict[str, str]:
    """What the cell's processes get: its connections as ``AIRFLOW_CONN_*``, no example DAGs, the health checks."""
    conns: dict[str, dict[str, Any]] = {
        "mlflow_default": {"conn_type": "mlflow", "host": "127.0.0.1", "port": servers.mlflow.port},
        "hokusai_mlflow_webhook": {"conn_type": "generic", "password": WEBHOOK_SECRET},
    }
    if "redis" in cell.backends:
        port = servers.redis.port
        conns["hokusai_redis"] = {
            "conn_type": "hokusai_redis",
            "host": "127.0.0.1",
            "port": port,
            "password": REDIS_PASSWORD,
        }
    if "amazon" in cell.backends:
        extra = {"region_name": REGION, "endpoint_url": servers.moto.endpoint, "queue": servers.queue_url}
        conns["hokusai_amazon"] = {
            "conn_type": "hokusai_sqs",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": extra,
        }
    return {
        **{f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()},
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS": ",".join(f"hokusai_{b}" for b in cell.backends),
        # The API server's first SQS check imports boto3: seconds on a busy machine, over the 3 s default.
        "AIRFLOW__HOKUSAI__HEALTH_TIMEOUT_SECONDS": "20",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    }


@pytest.fixture(scope="module", params=CELLS, ids=lambda cell: cell.name)
def cell_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, wheel: Path, servers: Servers
) -> Iterator[CellRun]:
    cell: Cell = request.param
    root = tmp_path_factory.mktemp(cell.name)
    home = root / "home"
    airflow = AirflowDeployment(
        home=home,
        database_url=f"sqlite:///{home / 'airflow.db'}",  # Airflow's default; no airflow.cfg is written for it
        dags_folder=home / "dags",
        airflow_bin=root / "venv" / "bin" / "airflow",
        airflow_defaults=True,
        environment=environment(cell, servers),
    )
    run = CellRun(cell, root / "venv" / "bin" / "python", airflow, servers)
    began = time.monotonic()
    with run.timed("fresh virtualenv + install"):
        cell_virtualenv(cell, wheel, root / "venv", UV, sys.executable)
    versions = installed_versions(UV, run.python)
    wanted = {"apache-airflow": cell.airflow, "mlflow-skinny": cell.mlflow_skinny, **cell.providers}
    assert {name: versions.get(name) for name in wanted} == wanted
    assert "mlflow" not in versions  # the client only
    home.mkdir()
    airflow.dags_folder.mkdir()  # Airflow's default DAGs folder, $AIRFLOW_HOME/dags
    for dag_file in DAG_FILES:
        shutil.copy(dag_file, airflow.dags_folder)
    with run.timed("airflow db migrate (SQLite)"):
        airflow.migrate()
    assert (home / "airflow.db").is_file()  # Airflow's default metadata database
    try:
        yield run
    finally:
        airflow.stop()
        size = site_packages_size(root / "venv")
        shutil.rmtree(root / "venv")
        rows = [f"  {seconds:6.1f} s  {step}" for step, seconds in run.seconds.items()]
        print(
            f"\ncell {cell.name}: apache-airflow {cell.airflow}, mlflow-skinny {cell.mlflow_skinny}, "
            f"extras {','.join(cell.extras)}; {len(versions)} packages, site-packages {size / 2**20:.0f} MiB",
            *rows,
            f"  {time.monotonic() - began:6.1f} s  cell total",
            sep="\n",
        )


def cell_json(run: CellRun, *args: str) -> Any:
    """
    ``airflow <args> -o json`` in the cell; its JSON line (log lines share stdout), or an empty list when there is
    none (Airflow prints nothing, or "No data found", for no rows).
    """
    lines = run.airflow.cli(*args, "-o", "json").stdout.splitlines()
    found = [line for line in lines if line.startswith(("[", "{"))]
    return json.loads(found[-1]) if found else []


def test_providers_list_shows_the_provider_and_its_plugin(cell_run: CellRun) -> None:
    with cell_run.timed("providers list, plugins"):
        providers = {p["package_name"]: p["version"] for p in cell_json(cell_run, "providers", "list")}
        assert "airflow-provider-hokusai" in providers, providers
        plugins = [p["name"] for p in cell_json(cell_run, "plugins")]
        assert plugins.count("hokusai") == 1, plugins


def test_the_provider_dags_and_the_example_release_dag_import(cell_run: CellRun) -> None:
    with cell_run.timed("DAGs import (dags list --local)"):
        assert cell_json(cell_run, "dags", "list-import-errors", "--local") == []
        dag_ids = {d["dag_id"] for d in cell_json(cell_run, "dags", "list", "--local")}
        assert dag_ids == EXPECTED_DAGS


def test_the_plugin_routes_answer_in_a_real_api_server(cell_run: CellRun) -> None:
    airflow = cell_run.airflow
    with cell_run.timed("api-server start, plugin routes"):
        airflow.start(["api-server"])
        try:
            deadline = time.monotonic() + 180
            while not _answers(airflow, "/api/v2/monitor/health"):
                airflow.check_running()
                assert time.monotonic() < deadline, airflow.log_tail()
                time.sleep(0.5)
            passwords = json.loads((airflow.home / "simple_auth_manager_passwords.json.generated").read_text())
            login = airflow.api("POST", "/auth/token", json={"username": "admin", "password": passwords["admin"]})
            assert login.status_code == 201, login.text
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

            health = airflow.api("GET", "/hokusai/health", headers=auth, timeout=90)
            if health.status_code == 503:  # a first check cut short by the imports above: the next one is warm
                health = airflow.api("GET", "/hokusai/health", headers=auth, timeout=90)
            assert health.status_code == 200, health.text
            reachable = {q["conn_id"]: q["reachable"] for q in health.json()["queues"]}
            assert reachable == {f"hokusai_{b}": True for b in cell_run.cell.backends}
            page = airflow.api("GET", "/hokusai/ui/", headers=auth)
            assert page.status_code == 200 and "Reconcile now" in page.text, page.text[:500]
            unsigned = airflow.api("POST", "/hokusai/webhooks/mlflow", content=b"{}")
            assert unsigned.status_code == 401 and unsigned.json()["status"] == "rejected", unsigned.text
            # The control: any other path under /hokusai is the Airflow UI's page, without the plugin's content.
            other = airflow.api("GET", "/hokusai/no-such-route", headers=auth)
            assert "Reconcile now" not in other.text and "queues" not in other.text
        finally:
            airflow.stop()


def _answers(airflow: AirflowDeployment, path: str) -> bool:
    with contextlib.suppress(Exception):
        return bool(airflow.api("GET", path, timeout=5).status_code == 200)
    return False


def test_a_release_validates_against_mlflow_and_announces_on_each_backend(cell_run: CellRun) -> None:
    from mlflow import MlflowClient

    servers, backends = cell_run.servers, cell_run.cell.backends
    run_id = create_run(servers.mlflow.url, unique("matrix-exp"), metrics={"accuracy": 0.95})
    model = unique(f"matrix-{cell_run.cell.name}")
    env = {
        "HOKUSAI_MATRIX_RUN_ID": run_id,
        "HOKUSAI_MATRIX_MODEL": model,
        "HOKUSAI_MATRIX_BACKENDS": ",".join(backends),
    }
    script = Path(shutil.copy(RELEASE_SCRIPT, cell_run.airflow.dags_folder / "hokusai_matrix_release.py"))
    with cell_run.timed("release DAG by dag.test(): sensor, register, announce"):
        done = subprocess.run(
            [str(cell_run.python), str(script)],
            capture_output=True,
            text=True,
            timeout=600,
            env=cell_run.airflow.env(**env),
            cwd=cell_run.airflow.home,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-4000:]
    states = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {"validate": "success"} | {f"{s}_{b}": "success" for b in backends for s in ("register", "announce")}
    assert states == expected, done.stdout[-4000:] + done.stderr[-4000:]

    arrived = {}
    if "redis" in backends:
        bodies = servers.redis.client().lrange(DEFAULT_QUEUE, 0, -1)
        arrived["redis"] = [ModelReadyToDeployMessage.from_json(b) for b in bodies]
    if "amazon" in backends:
        client = servers.moto.client()
        batch = client.receive_message(QueueUrl=servers.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        arrived["amazon"] = [ModelReadyToDeployMessage.from_json(m["Body"]) for m in batch.get("Messages", [])]
    registry = MlflowClient(tracking_uri=servers.mlflow.url, registry_uri=servers.mlflow.url)
    for backend in backends:
        (message,) = [m for m in arrived[backend] if m.model_name == f"{model}-{backend}"]
        assert message.token_symbol == "HKM"
        tags = dict(registry.get_model_version(message.model_name, message.model_version).tags)
        assert tags[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
        assert (receipt_from_tags(tags) or {}).get("message_id") == message.message_id

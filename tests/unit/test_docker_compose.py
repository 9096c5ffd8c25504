"""
Static checks of docker-compose.yaml (no Docker engine runs here): it parses, every reference resolves, every
bind-mounted path and build input exists in the repository, images are pinned to the versions the tests use,
and the connections it defines are exactly the ones the example DAGs and the health endpoint use.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
DAGS = REPO / "dags"
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}
ENV_READERS = {"os.environ.get", "os.getenv", "environ.get", "getenv"}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?[-?+](?P<default>[^}]*))?\}")


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict), "docker-compose.yaml is not a mapping"
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found = compose().get("services")
    assert isinstance(found, dict) and found, "no services"
    return found


def interpolate(value: str) -> str:
    """Compose variable interpolation with defaults (``${X:-d}``), unset variables empty, ``$$`` a literal ``$``."""
    return INTERPOLATION.sub(lambda m: m["default"] or "", value.replace("$$", "\0")).replace("\0", "$")


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


def depends_on(service: Mapping[str, Any]) -> list[str]:
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, dict | list) else []


def airflow_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if str(s.get("command", "")).strip() in AIRFLOW_COMMANDS}


def bind_mounts(service: Mapping[str, Any]) -> Iterator[str]:
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                yield source
        elif volume.get("type") == "bind":
            yield str(volume["source"])


def connection_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k.removeprefix("AIRFLOW_CONN_").lower(): v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}


# What the example DAGs use, read from their source.


def _dag_files() -> list[Path]:
    return sorted(p for p in DAGS.rglob("*.py") if not p.name.startswith("_"))


def _module_strings(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def _string(node: ast.AST | None, constants: Mapping[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _call_conn_ids(node: ast.Call, constants: dict[str, str]) -> set[str]:
    """``*conn_id=`` keyword arguments of a call, when they are literals or module constants (not templates)."""
    values = (_string(k.value, constants) for k in node.keywords if k.arg and k.arg.endswith("conn_id"))
    return {v for v in values if v and "{{" not in v}


def _param_conn_ids(node: ast.Dict, constants: dict[str, str]) -> set[str]:
    """Defaults of the params (``{"...conn_id...": Param(default)}``) whose name contains ``conn_id``."""
    ids: set[str] = set()
    for key, value in zip(node.keys, node.values, strict=True):
        name = _string(key, constants)
        if not name or "conn_id" not in name:
            continue
        default = value.args[0] if isinstance(value, ast.Call) and value.args else value
        if isinstance(value, ast.Call):
            default = next((k.value for k in value.keywords if k.arg == "default"), default)
        if (conn_id := _string(default, constants)) is not None:
            ids.add(conn_id)
    return ids


def dag_conn_ids() -> dict[str, set[str]]:
    """
    Connection ids each DAG file uses: ``*conn_id=`` keyword arguments (literals or module constants),
    module constants named ``*CONN_ID``, and defaults of params whose name contains ``conn_id``.
    """
    found: dict[str, set[str]] = {}
    for path in _dag_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        constants = _module_strings(tree)
        ids = {v for k, v in constants.items() if k.upper().endswith("CONN_ID")}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                ids |= _call_conn_ids(node, constants)
            elif isinstance(node, ast.Dict):
                ids |= _param_conn_ids(node, constants)
        if ids:
            found[path.name] = ids
    return found


def dag_environment_variables() -> set[str]:
    """Names the DAG files read with ``os.environ.get``, ``os.environ[...]`` or ``os.getenv``."""
    names: set[str] = set()
    for path in _dag_files():
        for node in ast.walk(ast.parse(path.read_text())):
            name: str | None = None
            if isinstance(node, ast.Call) and node.args and ast.unparse(node.func) in ENV_READERS:
                name = _string(node.args[0], {})
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in {"os.environ", "environ"}:
                name = _string(node.slice, {})
            if name is not None:
                names.add(name)
    return names


# The file itself


def test_parses_with_services_and_named_volumes_declared() -> None:
    declared = set(compose().get("volumes") or {})
    for name, service in services().items():
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if isinstance(volume, str) and ":" not in volume:
                continue  # anonymous volume
            if not str(source).startswith((".", "/", "~")):
                assert source in declared, f"{name}: named volume {source!r} is not declared under volumes:"


def test_every_service_reference_exists_and_there_is_no_cycle() -> None:
    names = set(services())
    graph: dict[str, list[str]] = {}
    for name, service in services().items():
        refs = depends_on(service)
        refs += [str(v).split(":", 1)[0] for v in service.get("volumes_from") or []]
        refs += [str(link).split(":", 1)[0] for link in service.get("links") or []]
        network_mode = str(service.get("network_mode", ""))
        if network_mode.startswith("service:"):
            refs.append(network_mode.removeprefix("service:"))
        if isinstance(service.get("extends"), dict) and "file" not in service["extends"]:
            refs.append(service["extends"]["service"])
        missing = set(refs) - names
        assert not missing, f"{name} refers to undefined service(s) {sorted(missing)}"
        assert name not in refs, f"{name} depends on itself"
        graph[name] = refs

    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        assert node not in visiting, f"depends_on cycle: {' -> '.join([*path, node])}"
        if node in done:
            return
        visiting.add(node)
        for dep in graph[node]:
            visit(dep, [*path, node])
        visiting.discard(node)
        done.add(node)

    for name in graph:
        visit(name, [])


def test_conditions_are_valid_and_one_shot_services_are_awaited_as_such() -> None:
    one_shot = {n for n, s in services().items() if str(s.get("restart", "")) == "no"}
    for name, service in services().items():
        deps = service.get("depends_on") or {}
        if not isinstance(deps, dict):
            continue
        for dep, spec in deps.items():
            condition = (spec or {}).get("condition", "service_started")
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}, name
            if condition == "service_healthy":
                assert "healthcheck" in services()[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
            if dep in one_shot:
                assert condition == "service_completed_successfully", f"{name} must wait for {dep} to complete"


def test_bind_mounted_paths_exist_in_the_repo() -> None:
    mounts = [(name, src) for name, service in services().items() for src in bind_mounts(service)]
    assert mounts, "no bind mounts at all (dags/ must be mounted)"
    for name, source in mounts:
        assert source.startswith("./"), f"{name}: bind mount {source!r} must be relative to the repo"
        assert (REPO / source).exists(), f"{name}: mounted path {source!r} does not exist in the repo"


def test_build_contexts_dockerfiles_and_copy_sources_exist() -> None:
    built = {n: s["build"] for n, s in services().items() if "build" in s}
    assert built, "nothing is built: the provider must be installed from the repo"
    for name, spec in built.items():
        build = {"context": spec} if isinstance(spec, str) else spec
        context = REPO / build.get("context", ".")
        assert context.is_dir(), f"{name}: build context {context} missing"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        for line in dockerfile.read_text().splitlines():
            words = line.split()
            if words[:1] in (["COPY"], ["ADD"]):
                sources = [w for w in words[1:-1] if not w.startswith("--")]
                for source in sources:
                    assert (context / source).exists(), f"{dockerfile.name}: COPY source {source!r} missing"


def _images() -> Iterator[tuple[str, str]]:
    for name, service in services().items():
        if "build" not in service:
            yield name, str(service.get("image", ""))
    for dockerfile in (REPO / "docker").glob("*Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.upper().startswith("FROM "):
                yield dockerfile.name, line.split()[1]


def test_images_are_pinned() -> None:
    images = list(_images())
    assert images
    for owner, image in images:
        assert image, f"{owner}: no image"
        if "@sha256:" in image:
            continue
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{owner}: image {image!r} has no tag"
        assert tag != "latest", f"{owner}: image {image!r} is not pinned"
        assert re.search(r"\d", tag), f"{owner}: image tag {tag!r} is not a version"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements" / "requirements.in").read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip()):
            pins[match[1].lower()] = match[2]
    return pins


def test_image_versions_match_the_pinned_stack() -> None:
    pins = _pins()
    airflow = (REPO / "docker" / "airflow.Dockerfile").read_text()
    assert re.search(rf"^FROM apache/airflow:{re.escape(pins['apache-airflow'])}-python3\.11\b", airflow, re.M)
    assert pins["apache-airflow"] == "3.3.2"
    assert "--constraint /opt/hokusai/requirements/lock.txt" in airflow
    mlflow = (REPO / "docker" / "mlflow.Dockerfile").read_text()
    assert re.search(rf"^FROM ghcr\.io/mlflow/mlflow:v{re.escape(pins['mlflow'])}\b", mlflow, re.M)
    images = dict(_images())
    assert images["sqs"] == f"motoserver/moto:{pins['moto']}"
    assert images["postgres"].startswith("postgres:16")
    assert images["redis"].startswith("redis:7")


def test_airflow_components_run_the_provider_image() -> None:
    commands = {str(s.get("command")).strip() for s in airflow_services().values()}
    assert commands == AIRFLOW_COMMANDS
    for name, service in [*airflow_services().items(), ("airflow-init", services()["airflow-init"])]:
        assert service["build"]["dockerfile"] == "docker/airflow.Dockerfile", name
        env = environment(service)
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name
        assert "./dags:/opt/airflow/dags:ro" in service["volumes"], name
        # The provider's plugin loads under Airflow's defaults (its airflow.plugins entry point): nothing to set.
        assert "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS" not in env, name
    init = services()["airflow-init"]
    assert "airflow db migrate" in str(init["command"])
    for name in airflow_services():
        deps = services()[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name


def test_mlflow_uses_postgres_database_created_by_the_init_script() -> None:
    command = " ".join(services()["mlflow"]["command"])
    match = re.search(r"--backend-store-uri=postgresql\+psycopg2://(\w+):\w+@postgres:5432/(\w+)", command)
    assert match, command
    user, database = match.groups()
    init_sql = "\n".join(p.read_text() for p in (REPO / "docker" / "postgres").glob("*.sql"))
    assert re.search(rf"CREATE DATABASE {database} OWNER {user};", init_sql)
    assert re.search(rf"CREATE ROLE {user} WITH LOGIN", init_sql)
    assert "./docker/postgres:/docker-entrypoint-initdb.d:ro" in services()["postgres"]["volumes"]


def test_published_ports_are_loopback_only() -> None:
    for name, service in services().items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} is published beyond loopback"


# Connections


def test_dags_declare_connection_ids() -> None:
    found = dag_conn_ids()
    assert found, (
        f"no connection id found in {DAGS}: expected `*conn_id=` arguments, `*CONN_ID = '...'` constants or "
        "Params named *conn_id* in the example DAGs"
    )


def test_every_dag_connection_is_configured_for_every_airflow_component() -> None:
    used = set().union(*dag_conn_ids().values()) if dag_conn_ids() else set()
    assert used, "the example DAGs use no connection id"
    for name, service in airflow_services().items():
        configured = set(connection_env(environment(service)))
        missing = used - configured
        assert not missing, f"{name}: no AIRFLOW_CONN_* for {sorted(missing)} used by {dag_conn_ids()}"


def test_every_configured_connection_is_used() -> None:
    used = set().union(*dag_conn_ids().values())
    for name, service in airflow_services().items():
        env = environment(service)
        health = {c.strip() for c in env.get("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "").split(",") if c.strip()}
        configured = set(connection_env(env))
        assert health <= configured, f"{name}: health endpoint checks unknown connection(s) {health - configured}"
        unused = configured - used - health
        assert not unused, f"{name}: AIRFLOW_CONN_* for {sorted(unused)} used by no DAG nor the health endpoint"


def _hosts(value: str) -> Iterator[str]:
    """Hosts a connection points at: the URI's, or the JSON's host and any URL in its extra."""
    value = value.strip()
    if value.startswith("{"):
        conn = json.loads(value)
        if conn.get("host"):
            yield str(conn["host"])
        for extra in (conn.get("extra") or {}).values():
            if isinstance(extra, str) and "://" in extra:
                yield urlsplit(extra).hostname or ""
    else:
        yield urlsplit(value).hostname or ""


def test_connections_parse_and_point_at_services_of_the_stack() -> None:
    names = set(services())
    for name, service in airflow_services().items():
        for conn_id, value in connection_env(environment(service)).items():
            hosts = list(_hosts(value))
            assert hosts, f"{name}: connection {conn_id} points nowhere"
            for host in hosts:
                assert host in names, f"{name}: connection {conn_id} points at {host!r}, not a compose service"


def test_environment_the_dags_read_is_set_and_the_sqs_queue_is_created() -> None:
    wanted = dag_environment_variables()
    for name, service in airflow_services().items():
        env = environment(service)
        missing = wanted - set(env)
        assert not missing, f"{name}: DAGs read {sorted(missing)} from the environment; not set"
    if "HOKUSAI_MODEL_READY_SQS_QUEUE_URL" in wanted:
        env = environment(services()["airflow-triggerer"])
        queue_url = env["HOKUSAI_MODEL_READY_SQS_QUEUE_URL"]
        parts = urlsplit(queue_url)
        assert parts.hostname in services(), queue_url
        queue = parts.path.rsplit("/", 1)[-1]
        assert environment(services()["sqs-init"])["HOKUSAI_SQS_QUEUE"] == queue
        publish = json.loads(env["AIRFLOW_CONN_HOKUSAI_QUEUE"])
        assert publish["extra"]["endpoint_url"] == f"{parts.scheme}://{parts.netloc}"
        # get_queue_hook's default queue is the connection extra "queue".
        assert publish["extra"]["queue"] == queue, "the release DAG must publish to the queue the consumer watches"


# The CeleryExecutor profile


def test_celery_profile_adds_a_scalable_worker_and_the_default_stays_local() -> None:
    workers = {n: s for n, s in airflow_services().items() if str(s["command"]).strip() == "celery worker"}
    assert list(workers) == ["airflow-worker"]
    worker = workers["airflow-worker"]
    assert worker["profiles"] == ["celery"]
    # `--scale airflow-worker=N` needs neither a fixed container name nor a published port.
    assert "container_name" not in worker and not worker.get("ports")
    # Task SDK workers talk to the API server's execution API.
    assert worker["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert "inspect ping" in str(worker["healthcheck"]["test"])
    for name, service in airflow_services().items():
        if name != "airflow-worker":
            assert "profiles" not in service, f"{name} must run in every profile"
        executor = str(service["environment"]["AIRFLOW__CORE__EXECUTOR"])
        assert interpolate(executor) == "LocalExecutor", name
        assert "HOKUSAI_EXECUTOR" in executor, f"{name}: the executor must be switchable to CeleryExecutor"
    assert "HOKUSAI_EXECUTOR=CeleryExecutor docker compose --profile celery up" in COMPOSE.read_text()


def test_celery_broker_and_result_backend_are_services_of_the_stack_apart_from_the_queue() -> None:
    env = environment(services()["airflow-worker"])
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname) == ("redis", "redis")
    backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
    assert (backend.scheme, backend.hostname) == ("postgresql+psycopg2", "postgres")
    # The broker's Redis database is not the one announcements are pushed to (the queue hooks, like Airflow's
    # RedisHook, read it from the extra ``db``, default 0; Celery from the URL's path).
    queue_dbs = {int(parse_qs(urlsplit(v).query).get("db", ["0"])[0]) for v in connection_env(env).values()
                 if v.startswith("redis://")}  # fmt: skip
    assert queue_dbs and int(broker.path.strip("/") or 0) not in queue_dbs
    for name, service in airflow_services().items():
        same = environment(service)
        assert same["AIRFLOW__CELERY__BROKER_URL"] == env["AIRFLOW__CELERY__BROKER_URL"], name
        assert same["AIRFLOW__CELERY__RESULT_BACKEND"] == env["AIRFLOW__CELERY__RESULT_BACKEND"], name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("${A:-x}", "x"), ("${A}", ""), ("$${HOSTNAME}", "${HOSTNAME}"), ("a${B:-b}c", "abc")],
)
def test_interpolation_helper(raw: str, expected: str) -> None:
    assert interpolate(raw) == expected

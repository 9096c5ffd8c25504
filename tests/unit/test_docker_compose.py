"""
Static checks of docker-compose.yaml (no Docker engine runs here): it parses, every reference resolves, every
bind-mounted path and build input exists in the repository, images are pinned to the versions the tests use, the
connections airflow-init adds are of the provider's types and exactly the ones the DAGs, the health endpoint and the
webhook receiver use, MLflow's webhooks are wired as docs/webhooks.md says, and the shell scripts parse (the init
script also runs twice against a stand-in ``airflow`` command).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
DAGS = REPO / "dags"
#: The DAG files the stack's DAG processor loads: the example DAGs and, through dags/hokusai_provider_dags.py, the
#: provider's own.
DAG_SOURCES = (DAGS, REPO / "airflow_provider_hokusai" / "dags")
#: How docs/installation.md and docs/webhooks.md make the webhook secret.
WEBHOOK_SECRET = "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
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


def shell_scripts() -> dict[str, str]:
    """The ``bash -c`` scripts of the one-shot services, as the shell gets them (after compose's interpolation)."""
    bash = ["/bin/bash", "-c"]
    return {n: interpolate(s["command"][0]) for n, s in services().items() if s.get("entrypoint") == bash}


def _connection(options: list[str], variables: Mapping[str, str]) -> dict[str, Any]:
    conn: dict[str, Any] = {}
    for flag, word in zip(options[::2], options[1::2], strict=True):
        value = variables.get(word.removeprefix("$"), word) if word.startswith("$") and " " not in word else word
        field = flag.removeprefix("--conn-")
        conn["conn_type" if field == "type" else field] = (
            json.loads(value) if field == "extra" else int(value) if field == "port" else value
        )
    return conn


def added_connections() -> dict[str, dict[str, Any]]:
    """
    What airflow-init's ``airflow connections add`` commands add: ``{conn_id: {conn_type, host, port, ..., extra}}``,
    shell variables the options name (``"$sqs_extra"``) resolved. Each must go through ``add_once``.
    """
    script = shell_scripts()["airflow-init"].replace("\\\n", " ")
    variables = dict(re.findall(r"^(\w+)='([^']*)'$", script, re.M))
    added: dict[str, dict[str, Any]] = {}
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if words[1:4] != ["airflow", "connections", "add"] and words[:3] != ["airflow", "connections", "add"]:
            continue
        assert words[0] == "add_once", f"added without add_once (a second `up` would fail): {line.strip()}"
        assert words[4] not in added, f"{words[4]} added twice"
        added[words[4]] = _connection(words[5:], variables)
    return added


# A stand-in for the ``airflow`` command: connections in a file, one "<id> <type>" line each; `connections add`
# refuses an id that exists, as Airflow's does (SystemExit, exit 1).
FAKE_AIRFLOW = """#!/bin/bash
set -eu
state="$FAKE_AIRFLOW_STATE"
touch "$state"
case "$1 ${2:-}" in
  "db migrate") ;;
  "providers list") echo "airflow-provider-hokusai | Hokusai | 0.1.0" ;;
  "connections list") echo "conn_id conn_type"; cat "$state" ;;
  "connections add")
    if grep -q "^$3 " "$state"; then echo "A connection with conn_id=$3 already exists." >&2; exit 1; fi
    type=$(printf '%s\\n' "$@" | grep -A1 -x -- --conn-type | tail -n 1)
    echo "$3 $type" >> "$state"
    echo "Successfully added conn_id=$3" ;;
  *) echo "unexpected: airflow $*" >&2; exit 2 ;;
esac
"""


# What the example DAGs use, read from their source.


def _dag_files() -> list[Path]:
    return sorted(p for d in DAG_SOURCES for p in d.rglob("*.py") if not p.name.startswith("_"))


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


# Connections: added by airflow-init into the metadata database, as docs/installation.md adds them


def test_no_connection_comes_from_the_environment() -> None:
    # The UI shows, edits and tests only connections of the metadata database; no example DAG needs another.
    for name, service in services().items():
        assert not connection_env(environment(service)), f"{name}: AIRFLOW_CONN_* set; add it in airflow-init instead"


def test_dags_declare_connection_ids() -> None:
    found = dag_conn_ids()
    assert {"hokusai_model_release.py", "common.py"} <= set(found), found


def test_every_connection_a_dag_uses_is_added() -> None:
    from airflow_provider_hokusai.cli.webhook import SECRET_CONN_ID

    used = set().union(*dag_conn_ids().values()) | {SECRET_CONN_ID}
    missing = used - set(added_connections())
    assert not missing, f"airflow-init adds no connection {sorted(missing)} (used by {dag_conn_ids()})"


def test_every_added_connection_is_used_and_of_a_type_the_provider_registers() -> None:
    from airflow_provider_hokusai.cli.webhook import SECRET_CONN_ID
    from airflow_provider_hokusai.get_provider_info import get_provider_info

    provider_types = {t["connection-type"] for t in get_provider_info()["connection-types"]}
    added = added_connections()
    health = {c.strip() for c in environment(services()["airflow-apiserver"])["AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS"]
              .split(",")}  # fmt: skip
    assert health <= set(added), f"the health endpoint checks connection(s) never added: {health - set(added)}"
    unused = set(added) - set().union(*dag_conn_ids().values()) - health - {SECRET_CONN_ID}
    assert not unused, f"airflow-init adds {sorted(unused)}, used by no DAG, the health endpoint nor the webhook"
    # The secret's connection is of any type (docs/webhooks.md); every other one is the provider's, with its Test.
    assert added.pop(SECRET_CONN_ID) == {"conn_type": "generic", "password": WEBHOOK_SECRET}
    for conn_id, conn in added.items():
        assert conn["conn_type"] in provider_types, f"{conn_id}: type {conn['conn_type']} is not the provider's"
    assert {c: added[c]["conn_type"] for c in ("mlflow_default", "hokusai_queue", "hokusai_redis")} == {
        "mlflow_default": "mlflow",
        "hokusai_queue": "hokusai_sqs",
        "hokusai_redis": "hokusai_redis",
    }


def test_connections_point_at_services_of_the_stack() -> None:
    names = set(services())
    for conn_id, conn in added_connections().items():
        hosts = [conn["host"]] if "host" in conn else []
        # ui_url is for the browser (the MLflow link on task instances), the rest for the Airflow containers.
        extra = {k: v for k, v in conn.get("extra", {}).items() if k != "ui_url"}
        hosts += [urlsplit(v).hostname or "" for v in extra.values() if "://" in str(v)]
        for host in hosts:
            assert host in names, f"{conn_id} points at {host!r}, not a compose service"
    mlflow = added_connections()["mlflow_default"]
    assert f"--port={mlflow['port']}" in services()["mlflow"]["command"]
    assert f"127.0.0.1:{urlsplit(mlflow['extra']['ui_url']).port}:{mlflow['port']}" in services()["mlflow"]["ports"]


def test_the_release_publishes_to_the_fifo_queue_the_consumer_watches() -> None:
    added = added_connections()
    queue_url = urlsplit(environment(services()["airflow-triggerer"])["HOKUSAI_MODEL_READY_SQS_QUEUE_URL"])
    queue = queue_url.path.rsplit("/", 1)[-1]
    assert queue.endswith(".fifo") and environment(services()["sqs-init"])["HOKUSAI_SQS_QUEUE"] == queue
    for conn_id in ("hokusai_queue", "hokusai_sqs"):
        extra = added[conn_id]["extra"]
        # The queue hooks' default queue is the extra "queue"; the endpoint is the sqs service, as sqs-init's.
        assert extra["queue"] == queue, conn_id
        assert extra["endpoint_url"] == f"{queue_url.scheme}://{queue_url.netloc}", conn_id
        assert extra["endpoint_url"] == environment(services()["sqs-init"])["HOKUSAI_SQS_ENDPOINT_URL"], conn_id


def test_environment_the_dags_read_is_set() -> None:
    wanted = dag_environment_variables()
    for name, service in airflow_services().items():
        missing = wanted - set(environment(service))
        assert not missing, f"{name}: DAGs read {sorted(missing)} from the environment; not set"


def test_the_connection_test_button_is_enabled() -> None:
    for name, service in airflow_services().items():
        assert environment(service).get("AIRFLOW__CORE__TEST_CONNECTION") == "Enabled", name


def test_shell_scripts_parse() -> None:
    scripts = shell_scripts()
    assert {"airflow-init", "webhook-setup"} <= set(scripts)
    for name, script in scripts.items():
        checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


def test_airflow_init_adds_each_connection_once_and_runs_again_without_failing(tmp_path: Path) -> None:
    """
    The init script against a stand-in ``airflow`` command that, like the real one, refuses to add an id that
    exists (exit 1) and lists ids under a header with ``--output plain``: a second ``up`` adds nothing and succeeds.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "airflow").write_text(FAKE_AIRFLOW)
    (bin_dir / "airflow").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_AIRFLOW_STATE": str(tmp_path / "connections"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"),
    }
    script = shell_scripts()["airflow-init"]
    runs = [subprocess.run(["bash", "-c", script], env=env, text=True, capture_output=True, check=False)
            for _ in range(2)]  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.stderr
    state = (tmp_path / "connections").read_text().splitlines()
    assert sorted(line.split()[0] for line in state) == sorted(added_connections())
    assert runs[0].stdout.count("Successfully added") == len(added_connections())
    assert "Successfully added" not in runs[1].stdout
    assert runs[1].stdout.count("exists: kept") == len(added_connections())
    assert json.loads((tmp_path / "passwords.json").read_text()) == {"admin": "admin"}


# MLflow's registry webhooks (docs/webhooks.md)


def test_mlflow_may_deliver_to_the_api_server_and_keeps_its_secret() -> None:
    from cryptography.fernet import Fernet

    mlflow = services()["mlflow"]
    env = environment(mlflow)
    assert env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"] == "true"
    assert "http" in env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"].split(",")
    Fernet(env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"])  # a valid key, or this raises
    raw_key = mlflow["environment"]["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"]
    assert raw_key.startswith("${MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY:-"), "the placeholder must be overridable"
    # MLflow's default (60 s) would drop deliveries of versions registered in the first minute after setup.
    assert 0 < int(env["MLFLOW_WEBHOOK_CACHE_TTL"]) <= 10


def test_webhook_setup_runs_the_cli_once_the_api_server_is_healthy() -> None:
    setup = services()["webhook-setup"]
    assert str(setup["restart"]) == "no"
    deps = setup["depends_on"]
    assert deps["airflow-apiserver"]["condition"] == "service_healthy"
    assert deps["mlflow"]["condition"] == "service_healthy"
    assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["hokusai-webhook"] == "airflow_provider_hokusai.cli.webhook:main"
    match = re.search(r"^hokusai-webhook setup --api-url (\S+)$", shell_scripts()["webhook-setup"], re.M)
    assert match, "webhook-setup does not run `hokusai-webhook setup --api-url ...`"
    api = urlsplit(match[1])
    # The API server's container port, as MLflow reaches it inside the stack.
    container_ports = {int(str(p).rsplit(":", 1)[1]) for p in services()["airflow-apiserver"]["ports"]}
    assert (api.scheme, api.hostname) == ("http", "airflow-apiserver") and api.port in container_ports, match[1]
    for doc in ("installation.md", "webhooks.md"):
        assert "hokusai-webhook setup --api-url" in (REPO / "docs" / doc).read_text(), doc


def test_webhook_setup_prints_what_next_and_the_docs_say_the_same() -> None:
    script = shell_scripts()["webhook-setup"]
    what_next = script[script.index("<<EOF") :]
    published = {str(p).split(":")[1]: n for n, s in services().items() for p in s.get("ports") or []}
    for url in re.findall(r"https?://localhost:\d+\S*", what_next):
        assert urlsplit(url).port is not None and str(urlsplit(url).port) in published, url
    assert published["8080"] == "airflow-apiserver" and published["5000"] == "mlflow"
    for path in ("/hokusai/ui/", "/hokusai/health"):
        assert f"http://localhost:8080{path}" in what_next, path
    assert 'DAG_ID = "hokusai_model_release"' in (DAGS / "hokusai_model_release.py").read_text()
    commands = re.findall(r"^\s*(docker compose exec .+)$", what_next, re.M)
    assert "airflow dags trigger hokusai_model_release" in " ".join(commands)
    docs = (REPO / "docs" / "installation.md").read_text()
    for command in commands:
        assert command.strip() in docs, f"docs/installation.md does not show {command.strip()!r}"
    assert "docker compose logs webhook-setup" in docs


# Airflow's defaults and the provider's DAGs (docs/installation.md)


def test_no_lazy_discover_providers_override_anywhere() -> None:
    files = [COMPOSE, *(p for p in (REPO / "docker").rglob("*") if p.is_file())]
    for path in files:
        assert "lazy_discover_providers" not in path.read_text().lower(), path


def test_the_provider_dags_are_loaded_by_the_one_line_file_of_the_docs() -> None:
    docs = (REPO / "docs" / "installation.md").read_text()
    line = re.search(r"```python\n(from airflow_provider_hokusai\.dags import \*[^\n]*)\n```", docs)
    assert line, "docs/installation.md shows no one-line DAG file"
    assert (DAGS / "hokusai_provider_dags.py").read_text().strip() == line[1]
    for name, service in airflow_services().items():
        assert "./dags:/opt/airflow/dags:ro" in service["volumes"], name


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
    queue_dbs = {int(c.get("extra", {}).get("db", 0)) for c in added_connections().values()
                 if c["conn_type"] in {"redis", "hokusai_redis"}}  # fmt: skip
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

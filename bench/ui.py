"""
The Hokusai page's data endpoint on a registry of 10,000 model versions (issue 14: answers within 500 ms).

The registry is built fast: MLflow's schema is created by MLflow itself (``create_sqlite_store``), the registered
models through ``MlflowClient``, then the versions and their tags are bulk-inserted into MLflow's own tables (its
SQLAlchemy models) in one transaction. A real ``mlflow server`` then serves that store, and the page's app
(:func:`airflow_provider_hokusai.plugins._ui_app.create_app`, the default registry reader on an ``mlflow``
connection) is served by uvicorn on loopback; every request goes over HTTP to the app and from it over HTTP to MLflow.
Only Airflow's auth check is left out (an authorizer that admits everyone): a JWT decode, not what 10,000 versions cost.

Versions: 20 models x 500; 9,900 announced (a receipt), 60 pending, 40 failed. Queries timed: the first page of all
versions (50 and 100 rows), the pending index (failed, pending), one model, and pages 2-5 of all versions. Each is
asked ``--requests`` times (default 20); the row reports the median, p95 (the goal's measure) and the slowest, and
the machine's load average, since a shared machine's load moves every figure.

Usage: ``python -m bench.ui [--versions N] [--requests N]`` (``make bench`` runs it through ``bench.run``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GOAL_MS = 500.0
MODELS = 20
FAILED, PENDING = 40, 60


def _version_tags(number: int, name: str, version: int) -> dict[str, str]:
    from airflow_provider_hokusai.registry import tags as t
    from hokusai_testkit.mlflow import validated_tags

    if number < FAILED:
        reason = "retryable: QueueUnavailableError: Redis at 127.0.0.1:6390 refused the connection"
        return validated_tags(**{t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_FAILED, t.ANNOUNCEMENT_ERROR: reason})
    if number < FAILED + PENDING:
        return validated_tags()
    return validated_tags() | {
        t.ANNOUNCEMENT_MESSAGE_ID: f"{name}-{version}",
        t.ANNOUNCEMENT_BACKEND: "redis",
        t.ANNOUNCEMENT_QUEUE: "hokusai:model_ready_queue",
        t.ANNOUNCED_AT: "2026-01-01T00:00:00Z",
        t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_PUBLISHED,
    }


def build_registry(root: Path, versions: int) -> str:
    """An MLflow sqlite store in ``root`` holding ``versions`` versions over :data:`MODELS` models; its URI."""
    from mlflow import MlflowClient
    from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlModelVersionTag
    from sqlalchemy import create_engine, insert

    from hokusai_testkit.mlflow import create_sqlite_store

    uri = create_sqlite_store(root)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    names = [f"bench-model-{m:02d}" for m in range(MODELS)]
    for name in names:
        client.create_registered_model(name)
    rows, tag_rows = [], []
    start = int(time.time() * 1000) - versions * 1000
    for number in range(versions):
        name, version = names[number % MODELS], number // MODELS + 1
        created = start + number * 1000
        rows.append(
            {"name": name, "version": version, "creation_time": created, "last_updated_time": created}
            | {"source": f"models:/m-{number}", "current_stage": "None", "status": "READY"}
        )
        tag_rows += [
            {"name": name, "version": version, "key": key, "value": value}
            for key, value in _version_tags(number, name, version).items()
        ]
    engine = create_engine(uri)
    with engine.begin() as connection:
        connection.execute(insert(SqlModelVersion), rows)
        connection.execute(insert(SqlModelVersionTag), tag_rows)
    engine.dispose()
    return uri


@contextlib.contextmanager
def serve_ui(mlflow_conn_uri: str) -> Iterator[str]:
    """The page's app on loopback (uvicorn in a thread), reading MLflow through the ``mlflow_default`` connection."""
    import uvicorn

    from airflow_provider_hokusai.plugins._ui_app import create_app
    from hokusai_testkit.ports import LOOPBACK, free_port, wait_for_port

    class Everyone:
        async def user(self, request: Any, credentials: Any) -> str:
            return "bench"

        def may(self, user: Any, method: str, dag_id: str, *, run: bool = False) -> bool:
            return True

    os.environ["AIRFLOW_CONN_MLFLOW_DEFAULT"] = mlflow_conn_uri
    app = create_app(authorizer=Everyone(), dag_state_fn=lambda dag_id: {"dag_id": dag_id})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="bench-ui", daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _time(client: Any, url: str, params: dict[str, Any], requests: int) -> tuple[list[float], dict[str, Any]]:
    times, body = [], {}
    for _ in range(requests):
        start = time.perf_counter()
        answer = client.get(url, params=params)
        times.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{url} {params}: HTTP {answer.status_code} {answer.text[:500]}")
        body = answer.json()
    return times, body


def measure(base: str, requests: int) -> list[dict[str, Any]]:
    """One row per query: rows returned, median and slowest answer in ms, against :data:`GOAL_MS`."""
    import httpx

    queries: list[tuple[str, dict[str, Any]]] = [
        ("all, first page (50)", {}),
        ("all, first page (100)", {"page_size": 100}),
        ("failed (pending index)", {"status": "failed"}),
        ("pending (pending index)", {"status": "pending"}),
        ("one model, all", {"model": "bench-model-07"}),
    ]
    rows = []
    with httpx.Client(timeout=120) as client:
        client.get(f"{base}/api/versions").raise_for_status()  # the connection read, the app's first request
        token = None
        for label, params in queries:
            times, body = _time(client, f"{base}/api/versions", params, requests)
            rows.append(_row(label, times, len(body["versions"])))
            if label.startswith("all, first page (50)"):
                token = body["next_page_token"]
        for page in range(2, 6):
            times, body = _time(client, f"{base}/api/versions", {"page_token": token}, requests)
            rows.append(_row(f"all, page {page} (50)", times, len(body["versions"])))
            token = body["next_page_token"]
    return rows


def _row(label: str, times: list[float], returned: int) -> dict[str, Any]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "benchmark": "ui",
        "subject": label,
        "rows": returned,
        "median_ms": round(ordered[len(ordered) // 2], 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
        "requests": len(times),
        "goal_ms": GOAL_MS,
        "ok": p95 <= GOAL_MS,
    }


def bench_ui(versions: int = 10_000, requests: int = 20) -> dict[str, Any]:
    """Build the registry, serve it, time the data endpoint; the report (``rows`` and the build's seconds)."""
    from hokusai_testkit.mlflow import running_mlflow_server

    with tempfile.TemporaryDirectory(prefix="hokusai-bench-ui-") as tmp:
        started = time.perf_counter()
        build_registry(Path(tmp), versions)
        built = round(time.perf_counter() - started, 1)
        with running_mlflow_server(Path(tmp)) as mlflow, serve_ui(mlflow.conn_uri) as base:
            rows = measure(f"{base}", requests)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return {"versions": versions, "build_seconds": built, "rows": rows, "load_average": load}


def render(report: dict[str, Any]) -> str:
    """The rows as a table, each against the goal."""
    lines = [
        f"ui: the page's data endpoint on {report['versions']:,} versions (registry built in "
        f"{report['build_seconds']} s), goal: p95 <= {GOAL_MS:.0f} ms; load average {report['load_average']}"
    ]
    for r in report["rows"]:
        verdict = "ok" if r["ok"] else "OVER GOAL"
        lines.append(
            f"ui       {r['subject']:30} {r['rows']:>4} rows  median {r['median_ms']:>7.1f} ms  "
            f"p95 {r['p95_ms']:>7.1f} ms  max {r['max_ms']:>7.1f} ms  ({r['requests']} requests)  {verdict}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="Also write the report here.")
    args = parser.parse_args(argv)
    from bench.common import cleanup, isolate_airflow_home

    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    home = isolate_airflow_home()
    try:
        report = bench_ui(args.versions, args.requests)
    finally:
        cleanup(home)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["ok"] for r in report["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())

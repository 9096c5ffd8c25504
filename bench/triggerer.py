"""
Triggerer capacity: N ``MLflowBaselineTrigger`` s waiting at once in one triggerer process, against a real
``mlflow server`` (one worker, sqlite store).

Each trigger waits on its own RUNNING run; a finisher in the parent process ends every run (FINISHED, metric above
the baseline) at a random time between one and two poll intervals after the triggers started. The triggers run in
a fresh child process (the "triggerer") whose asyncio loop drives each ``trigger.run()`` the way Airflow's
``TriggerRunner.run_trigger`` does (one task per trigger, ``async for`` over its events), all created in one burst
as after a triggerer restart, beside a ticker that sleeps 100 ms like the triggerer's ``block_watchdog`` and
records how late it wakes (the event loop's lag).

The N runs are written in one transaction through MLflow's SQLAlchemy store on the server's database, and the
finisher ends the runs that are due in one UPDATE every 50 ms: through the REST API a run costs several sqlite
commits, and on a shared disk 5,000 of them take minutes (what is measured is the triggers, not run creation).

Reported for each N: MLflow requests per second and per poll (counted at ``requests.Session.send``,
searches apart), the loop's lag p50/p99, the delay from "run finished" (the finisher's commit) to the trigger's event
p50/p99, peak threads and RSS growth of the triggerer process, CPU time of the look thread per poll. Goals at every N:
every event a success; delay p99 <= ``poll_interval + 1 s``; lag p99 < 100 ms; searches per poll at most one per
page of run ids (``RUN_IDS_PER_SEARCH``).

``--variant before`` runs the trigger as it was before looks were batched (one look per gate per poll on a shared
pool of ``LOOK_THREADS`` threads and a shared hook per connection, one GET per look while the run is RUNNING): the
same code, kept in :func:`legacy_trigger_class`. ``after`` is the shipped trigger. ``before`` at N > 1,000 asks
more of the server than it answers, so its run is capped at ``--before-cap`` seconds (the events that arrived by then
are reported). Usage: ``python -m bench.triggerer [--n 50 --n 500 --n 5000] [--variant before --variant after]
[--poll-interval 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import cleanup, isolate_airflow_home

REPO = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO / ".bench" / "triggerer.json"
CONN_ID = "bench_mlflow"
TICK = 0.1  # seconds; the triggerer's block_watchdog sleeps this long
LAG_GOAL_MS = 100.0
DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_NS = (50, 500, 5000)
DEFAULT_BEFORE_CAP = 90.0  # seconds a "before" fleet of more than 1,000 gates may run
FINISH_TICK = 0.05
SEARCH_ENDPOINT = "/api/2.0/mlflow/runs/search"
DELAY_SLACK_S = 1.0


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@contextmanager
def counting_requests() -> Iterator[dict[str, int]]:
    """
    Count every HTTP request sent while the block runs, by path: at ``requests.Session.send``, which the provider's
    REST client and MLflow's client both send through (above urllib3's retries, of which there are none here).
    """
    import requests

    counter: dict[str, int] = {}
    lock, original = threading.Lock(), requests.Session.send

    def counted(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url or "").path
        with lock:
            counter[path] = counter.get(path, 0) + 1
        return original(session, request, **kwargs)

    requests.Session.send = counted  # type: ignore[method-assign,assignment]
    try:
        yield counter
    finally:
        requests.Session.send = original  # type: ignore[method-assign]


def legacy_trigger_class() -> type:
    """
    The trigger before looks were batched: each gate looks on its own, on the process's shared pool of
    ``LOOK_THREADS`` threads with the connection's shared hook, and sleeps a poll interval after each look.
    """
    from airflow.triggers.base import TriggerEvent

    from airflow_provider_hokusai.exceptions import HokusaiPermanentError
    from airflow_provider_hokusai.gate.baseline import BaselineCheck, FailureKind
    from airflow_provider_hokusai.triggers import mlflow as module

    class SharedPoolTrigger(module.MLflowBaselineTrigger):
        def _look(self, shared: Any) -> Any:
            return self._check(shared.ready())  # in the pool's thread: the first builds the client

        async def run(self) -> AsyncIterator[Any]:
            with module._shared_hook(self.mlflow_conn_id) as shared:
                async for event in self._alone(shared):
                    yield event

        async def _alone(self, shared: Any) -> AsyncIterator[Any]:
            loop = asyncio.get_running_loop()
            try:
                while True:
                    look = functools.partial(contextvars.copy_context().run, self._look, shared)
                    check = await loop.run_in_executor(module._look_pool(), look)
                    if check.status != "pending":
                        yield TriggerEvent(check.event())
                        return
                    self.log.info("Still waiting: %s; next look in %ss", check.reason, self.poll_interval)
                    await asyncio.sleep(self.poll_interval)
            except HokusaiPermanentError as exc:
                yield TriggerEvent(BaselineCheck("failed", str(exc), failure=FailureKind.INVALID_INPUT).event())
            except Exception as exc:
                self.log.exception("MLflow baseline trigger failed")
                yield TriggerEvent({"status": "error", "reason": f"{type(exc).__name__}: {exc}", "error": None})

    return SharedPoolTrigger


# The triggerer side: a child process.


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        start = time.monotonic()
        await asyncio.sleep(TICK)
        lags.append(max(0.0, time.monotonic() - start - TICK) * 1000)


async def _sampler(peaks: dict[str, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peaks["threads"] = max(peaks["threads"], threading.active_count())
        peaks["rss_mb"] = max(peaks["rss_mb"], _rss_mb())
        await asyncio.sleep(0.25)


async def _drive(trigger: Any, events: dict[str, tuple[float, str]]) -> None:
    # What TriggerRunner.run_trigger does with a trigger: iterate its events until it returns.
    async for event in trigger.run():
        events[trigger.criteria.run_id] = (time.time(), str(event.payload["status"]))


async def _fleet(config: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger

    cls = legacy_trigger_class() if config["variant"] == "before" else MLflowBaselineTrigger
    interval = config["poll_interval"]
    triggers = []
    for run_id in config["run_ids"]:
        criteria = {"run_id": run_id, "metric_name": "accuracy", "baseline_value": 0.9}
        trigger = cls(criteria=criteria, mlflow_conn_id=CONN_ID, poll_interval=interval)
        looks = [0]
        trigger._check = _counting_looks(trigger._check, looks)
        triggers.append((trigger, looks))
    lags: list[float] = []
    peaks = {"threads": float(threading.active_count()), "rss_mb": _rss_mb()}
    rss_before, threads_before = peaks["rss_mb"], peaks["threads"]
    events: dict[str, tuple[float, str]] = {}
    stop = asyncio.Event()
    background = [asyncio.create_task(_ticker(lags, stop)), asyncio.create_task(_sampler(peaks, stop))]
    with counting_requests() as requests, timing_looks() as timed:
        started = time.time()
        print(json.dumps({"started": started}), flush=True)
        tasks = [asyncio.create_task(_drive(t, events)) for t, _ in triggers]
        _done, pending = await asyncio.wait(tasks, timeout=config["bound_seconds"])
        ended = time.time()
        for task in pending:
            task.cancel()
        stop.set()
        await asyncio.gather(*background, *pending, return_exceptions=True)
    return {
        "started": started,
        "ended": ended,
        "events": events,
        "lags_ms": lags,
        "requests": sum(requests.values()),
        "searches": requests.get(SEARCH_ENDPOINT, 0),
        "requests_by_endpoint": requests,
        "looks": sum(looks[0] for _, looks in triggers),
        "batched_looks": len(timed),
        "look_cpu_s": [cpu for cpu, _ in timed],
        "look_wall_s": [wall for _, wall in timed],
        "threads_before": threads_before,
        "threads_peak": peaks["threads"],
        "rss_growth_mb": peaks["rss_mb"] - rss_before,
    }


@contextmanager
def timing_looks() -> Iterator[list[tuple[float, float]]]:
    """``(CPU seconds of the look thread, wall seconds)`` of every batched look taken while the block runs."""
    from airflow_provider_hokusai.triggers._looks import BatchedLooks

    timed: list[tuple[float, float]] = []
    original = BatchedLooks.__call__

    def timed_call(self: Any, *args: Any) -> Iterator[Any]:
        cpu, wall = time.thread_time(), time.monotonic()
        yield from original(self, *args)
        timed.append((time.thread_time() - cpu, time.monotonic() - wall))

    BatchedLooks.__call__ = timed_call  # type: ignore[method-assign,assignment]
    try:
        yield timed
    finally:
        BatchedLooks.__call__ = original  # type: ignore[method-assign]


def _counting_looks(check: Callable[[Any], Any], looks: list[int]) -> Callable[[Any], Any]:
    def counted(hook: Any) -> Any:
        looks[0] += 1
        return check(hook)

    return counted


def fleet_main(config_path: Path) -> int:
    """Child process entry point: run the fleet described in ``config_path``, print its result as JSON."""
    config = json.loads(config_path.read_text())
    result = asyncio.run(_fleet(config))
    print(json.dumps({"result": result}), flush=True)
    return 0


# The parent side: server, runs, finisher, figures.


class RunStore:
    """
    The server's database through MLflow's SQLAlchemy store: N runs written in one transaction, and the runs that
    are due ended in one UPDATE (the triggers read them through the server, as they would any run).

    :param server_root: The ``mlflow server``'s data directory (its ``mlflow.db``).
    """

    def __init__(self, server_root: Path) -> None:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        self.store = SqlAlchemyStore(f"sqlite:///{server_root / 'mlflow.db'}", str(server_root / "artifacts"))

    def create_running(self, tracking_uri: str, count: int, tag: str) -> list[str]:
        """``count`` RUNNING runs with ``accuracy`` 0.95, in a new experiment (created through the server)."""
        from mlflow import MlflowClient
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlRun

        experiment = int(MlflowClient(tracking_uri=tracking_uri).create_experiment(f"bench-{tag}-{time.time_ns()}"))
        now, run_ids = int(time.time() * 1000), [uuid.uuid4().hex for _ in range(count)]
        metric = {"key": "accuracy", "value": 0.95, "timestamp": now, "step": 0, "is_nan": False}
        with self.store.ManagedSessionMaker() as session:
            session.add_all(
                SqlRun(run_uuid=run_id, name=f"gate-{i}", experiment_id=experiment, user_id="bench", status="RUNNING",
                       start_time=now, source_type="LOCAL", source_name="", entry_point_name="",
                       lifecycle_stage="active", artifact_uri=f"mlflow-artifacts:/{experiment}/{run_id}/artifacts")
                for i, run_id in enumerate(run_ids)
            )  # fmt: skip
            session.flush()
            session.add_all(SqlMetric(run_uuid=run_id, **metric) for run_id in run_ids)
            session.add_all(SqlLatestMetric(run_uuid=run_id, **metric) for run_id in run_ids)
        return run_ids

    def finish(self, run_ids: list[str]) -> None:
        """End ``run_ids`` now, FINISHED, in one transaction."""
        from mlflow.store.tracking.dbmodels.models import SqlRun

        values = {SqlRun.status: "FINISHED", SqlRun.end_time: int(time.time() * 1000)}
        with self.store.ManagedSessionMaker() as session:
            session.query(SqlRun).filter(SqlRun.run_uuid.in_(run_ids)).update(values, synchronize_session=False)


def _finish_runs(
    runs: RunStore, plan: list[tuple[str, float]], finished: dict[str, tuple[float, float]]
) -> threading.Thread:
    """
    End each run at its absolute time, those due together in one UPDATE every ``FINISH_TICK``; ``finished`` gets when
    each UPDATE began and when it was committed (the run reads FINISHED for everyone from then on).
    """
    ordered = sorted(plan, key=lambda item: item[1])

    def finisher() -> None:
        while ordered:
            time.sleep(max(0.0, min(FINISH_TICK, ordered[0][1] - time.time())))
            due = [run_id for run_id, at in ordered if at <= time.time()]
            if due:
                del ordered[: len(due)]
                sent = time.time()
                runs.finish(due)
                finished.update(dict.fromkeys(due, (sent, time.time())))

    thread = threading.Thread(target=finisher, name="finisher", daemon=True)
    thread.start()
    return thread


def run_fleet(
    tracking_uri: str, runs: RunStore, n: int, variant: str, interval: float, workdir: Path, before_cap: float
) -> dict[str, Any]:
    """One fleet of ``n`` triggers of ``variant`` in a fresh triggerer process; its figures."""
    created = time.monotonic()
    run_ids = runs.create_running(tracking_uri, n, f"{variant}-{n}")
    created = time.monotonic() - created
    bound = interval * 3 + 120
    if variant == "before" and n > 1000:
        bound = min(bound, before_cap)
    config = {"variant": variant, "poll_interval": interval, "run_ids": run_ids, "bound_seconds": bound}
    config_path = workdir / f"fleet-{variant}-{n}.json"
    config_path.write_text(json.dumps(config))
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.triggerer", "--fleet", str(config_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    finished: dict[str, tuple[float, float]] = {}
    try:
        started = json.loads(child.stdout.readline())["started"]
        rng = random.Random(n)
        plan = [(run_id, started + rng.uniform(interval, 2 * interval)) for run_id in run_ids]
        finisher = _finish_runs(runs, plan, finished)
        out, _ = child.communicate(timeout=bound + 120)
        finisher.join(2 * interval + 60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    result = json.loads(out.strip().splitlines()[-1])["result"]
    row = summarize(n, variant, interval, result, finished)
    return {**row, "capped_at_s": bound if bound < interval * 3 + 120 else None, "create_runs_s": round(created, 2)}


def summarize(
    n: int, variant: str, interval: float, result: dict[str, Any], finished: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """The figures of one fleet, with its goals; the delay counts from the finish's acknowledgement."""
    from airflow_provider_hokusai.triggers._looks import RUN_IDS_PER_SEARCH

    events = result["events"]
    delays = [events[r][0] - acked for r, (_, acked) in finished.items() if r in events]
    from_sent = [events[r][0] - sent for r, (sent, _) in finished.items() if r in events]
    finishing = [acked - sent for sent, acked in finished.values()]
    lags = result["lags_ms"]
    window = max(result["ended"] - result["started"], 1e-9)
    polls = math.floor(window / interval) + 1  # the gates look at the start, then once per interval
    row = {
        "benchmark": "triggerer",
        "variant": variant,
        "n": n,
        "poll_interval_s": interval,
        "events": len(events),
        "successes": sum(1 for _, status in events.values() if status == "success"),
        "requests_per_s": round(result["requests"] / window, 2),
        "requests_per_poll": round(result["requests"] / polls, 2),
        "searches_per_poll": round(result["searches"] / polls, 2),
        "requests_goal_per_poll": math.ceil(n / RUN_IDS_PER_SEARCH) + 1,
        "requests_by_endpoint": result["requests_by_endpoint"],
        "gate_looks": result["looks"],
        "batched_looks": result["batched_looks"],
        "look_cpu_p50_s": round(percentile(result["look_cpu_s"], 50), 3),
        "look_cpu_max_s": round(max(result["look_cpu_s"], default=float("nan")), 3),
        "look_wall_max_s": round(max(result["look_wall_s"], default=float("nan")), 2),
        "lag_p50_ms": round(percentile(lags, 50), 1),
        "lag_p99_ms": round(percentile(lags, 99), 1),
        "lag_max_ms": round(max(lags, default=float("nan")), 1),
        "delay_p50_s": round(percentile(delays, 50), 2),
        "delay_p99_s": round(percentile(delays, 99), 2),
        "delay_max_s": round(max(delays, default=float("nan")), 2),
        "delay_from_sent_p99_s": round(percentile(from_sent, 99), 2),
        "set_terminated_p50_s": round(percentile(finishing, 50), 2),
        "threads_peak": int(result["threads_peak"]),
        "threads_before": int(result["threads_before"]),
        "rss_growth_mb": round(result["rss_growth_mb"], 1),
        "delay_goal_s": interval + DELAY_SLACK_S,
        "lag_goal_ms": LAG_GOAL_MS,
    }
    row["meets_goals"] = bool(
        row["successes"] == n
        and row["delay_p99_s"] <= row["delay_goal_s"]
        and row["lag_p99_ms"] < LAG_GOAL_MS
        and row["requests_per_poll"] <= row["requests_goal_per_poll"]
    )
    return row


def calls_per_look(tracking_uri: str) -> dict[str, int]:
    """MLflow requests of one gate's look on its own: run pending, run decided (value / alias baseline)."""
    from mlflow import MlflowClient

    from airflow_provider_hokusai.gate.baseline import BaselineCriteria
    from airflow_provider_hokusai.gate.check import check_baseline
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from hokusai_testkit.mlflow import create_run, registered_version, unique, validated_tags

    client = MlflowClient(tracking_uri=tracking_uri)
    running = create_run(tracking_uri, unique("bench-look"), metrics={"accuracy": 0.95}, status=None)
    done = create_run(tracking_uri, unique("bench-look"), metrics={"accuracy": 0.95})
    model, version, _ = registered_version(tracking_uri, validated_tags(), "bench-look")
    client.set_registered_model_alias(model, "champion", version)
    alias = {"baseline_model_name": model, "baseline_alias": "champion"}
    cases: dict[str, dict[str, Any]] = {
        "pending": {"run_id": running, "baseline_value": 0.9},
        "decided_value": {"run_id": done, "baseline_value": 0.9},
        "decided_alias": {"run_id": done, **alias},
    }
    hook = MLflowHook(mlflow_conn_id=CONN_ID)
    hook.get_conn()  # the client is built outside the counts
    figures: dict[str, int] = {}
    for case, fields in cases.items():
        criteria = BaselineCriteria.model_validate({"metric_name": "accuracy", **fields})
        with counting_requests() as counter:
            check_baseline(hook, criteria)
        figures[f"look_{case}"] = sum(counter.values())
    return figures


def calls_per_announcement(tracking_uri: str) -> dict[str, int]:
    """MLflow requests of ``PublishModelReadyOperator.execute``: a first announcement, and a repeated one."""
    from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools
    from hokusai_testkit.mlflow import minimal_context, registered_version, validated_tags
    from hokusai_testkit.redis import start_redis

    redis = start_redis()
    try:
        os.environ["AIRFLOW_CONN_BENCH_TRIGGERER_REDIS"] = redis.conn_json()
        model, version, _ = registered_version(tracking_uri, validated_tags(), "bench-announce")
        figures = {}
        for attempt in ("first", "repeat"):
            operator = PublishModelReadyOperator(
                task_id=f"announce_{attempt}",
                model_name=model,
                model_version=version,
                queue_conn_id="bench_triggerer_redis",
                mlflow_conn_id=CONN_ID,
            )
            with counting_requests() as counter:
                operator.execute(minimal_context())  # type: ignore[arg-type]
            figures[f"announce_{attempt}"] = sum(counter.values())
        close_shared_pools()
    finally:
        redis.stop()
    return figures


def bench_triggerer(
    ns: list[int], variants: list[str], interval: float, before_cap: float = DEFAULT_BEFORE_CAP
) -> dict[str, Any]:
    """Every fleet (each N, each variant, alternating) and the per-call counts, against one ``mlflow server``."""
    from hokusai_testkit.mlflow import running_mlflow_server

    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"  # set_terminated would print (and GET) run links
    fleets = []
    with tempfile.TemporaryDirectory(prefix="hokusai-bench-triggerer-") as tmp:
        workdir = Path(tmp)
        (workdir / "mlflow").mkdir()
        with running_mlflow_server(workdir / "mlflow") as server:
            os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = server.conn_uri
            calls = calls_per_look(server.url) | calls_per_announcement(server.url)
            runs = RunStore(server.root)
            for n in ns:
                for variant in variants:
                    fleets.append(run_fleet(server.url, runs, n, variant, interval, workdir, before_cap))
                    print(render_fleet(fleets[-1]), flush=True)
    return {"calls": calls, "fleets": fleets}


def render_fleet(row: dict[str, Any]) -> str:
    """One fleet as a line of figures against its goals."""
    verdict = "meets goals" if row["meets_goals"] else "MISSES goals"
    capped = f" (capped at {row['capped_at_s']:g} s)" if row.get("capped_at_s") else ""
    return (
        f"triggerer {row['variant']:6} N={row['n']:<5} poll {row['poll_interval_s']:g} s  "
        f"events {row['events']}/{row['n']}{capped}, {row['successes']} right  "
        f"{row['requests_per_s']:.2f} req/s = {row['requests_per_poll']:.1f}/poll "
        f"(goal <= {row['requests_goal_per_poll']}; searches {row['searches_per_poll']:.1f}/poll)  "
        f"lag p50/p99 {row['lag_p50_ms']:.0f}/{row['lag_p99_ms']:.0f} ms (goal < {row['lag_goal_ms']:.0f})  "
        f"delay p50/p99 {row['delay_p50_s']:.2f}/{row['delay_p99_s']:.2f} s (goal <= {row['delay_goal_s']:g})  "
        f"threads {row['threads_peak']}  RSS +{row['rss_growth_mb']:.0f} MB  "
        f"look thread CPU p50/max {row['look_cpu_p50_s']:.2f}/{row['look_cpu_max_s']:.2f} s  {verdict}"
    )


def render_calls(calls: dict[str, int]) -> str:
    """MLflow requests of one gate's own look, and per announcement."""
    return (
        f"MLflow requests of a gate's own look: pending {calls['look_pending']}, decided on a value "
        f"{calls['look_decided_value']}, decided on an alias {calls['look_decided_alias']}; "
        f"per announcement: {calls['announce_first']} (first), {calls['announce_repeat']} (already announced)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.triggerer", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="Triggers at once (repeatable; 50, 500, 5000).")
    parser.add_argument("--variant", action="append", choices=["before", "after"], help="Trigger code (both).")
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL, help="Seconds between looks.")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"Report path (default {DEFAULT_JSON}).")
    parser.add_argument(
        "--before-cap", type=float, default=DEFAULT_BEFORE_CAP, help="Seconds a 'before' fleet of N > 1000 may run."
    )
    parser.add_argument("--fleet", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fleet:
        return fleet_main(args.fleet)
    ns = args.n or list(DEFAULT_NS)
    if not all(1 <= n <= 10_000 for n in ns) or not 1 <= args.poll_interval <= 60:
        parser.error("--n must be 1-10000 and --poll-interval 1-60 s (the benchmark stays bounded)")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    home = isolate_airflow_home()
    try:
        report = bench_triggerer(ns, args.variant or ["before", "after"], args.poll_interval, args.before_cap)
    finally:
        cleanup(home)
    print(render_calls(report["calls"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"benchmark": "bench.triggerer", "cpu_count": os.cpu_count(), **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

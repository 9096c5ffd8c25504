"""
Triggerer capacity: N ``MLflowBaselineTrigger`` s waiting at once in one triggerer process, against a real
``mlflow server``.

Each trigger waits on its own RUNNING run; a finisher in the parent process ends every run (FINISHED, metric above
the baseline) at a random time between one and two poll intervals after the triggers started. The triggers run in
a fresh child process (the "triggerer") whose asyncio loop drives each ``trigger.run()`` the way Airflow's
``TriggerRunner.run_trigger`` does (one task per trigger, ``async for`` over its events), all created in one burst
as after a triggerer restart, beside a ticker that sleeps 100 ms like the triggerer's ``block_watchdog`` and
records how late it wakes (the event loop's lag).

Reported for each N: MLflow requests per second (counted at ``mlflow.utils.rest_utils.http_request``), the loop's
lag p50/p99, the delay from "run finished" (the moment the finisher started ``set_terminated``) to the trigger's
event p50/p99, peak threads and RSS growth of the triggerer process, MLflow calls per look. Goals at every N:
delay p99 <= ``poll_interval + 1 s`` and lag p99 < 100 ms.

``--variant before`` runs the trigger as it was before issue 16 (its own hook and client per trigger, looks in
``asyncio.to_thread`` on the loop's default executor, two GETs per look while the run is RUNNING): the same code,
kept in :class:`LegacyBaselineTrigger`. ``after`` is the shipped trigger. Usage:
``python -m bench.triggerer [--n 50 --n 200 --n 500] [--variant before --variant after] [--poll-interval 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import cleanup, isolate_airflow_home

REPO = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO / ".bench" / "triggerer.json"
CONN_ID = "bench_mlflow"
TICK = 0.1  # seconds; the triggerer's block_watchdog sleeps this long
LAG_GOAL_MS = 100.0
DEFAULT_POLL_INTERVAL = 30.0
DELAY_SLACK_S = 1.0


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@contextmanager
def counting_requests() -> Iterator[list[int]]:
    """Count every HTTP request MLflow's REST client sends while the block runs (``counter[0]``)."""
    from mlflow.utils import rest_utils

    counter, lock, original = [0], threading.Lock(), rest_utils.http_request

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            counter[0] += 1
        return original(*args, **kwargs)

    rest_utils.http_request = counted  # type: ignore[assignment]
    try:
        yield counter
    finally:
        rest_utils.http_request = original  # type: ignore[assignment]


def legacy_trigger_class() -> type:
    """The trigger as it was before issue 16: a hook per trigger, default executor, two GETs per pending look."""
    from airflow.triggers.base import TriggerEvent

    from airflow_provider_hokusai.exceptions import HokusaiPermanentError
    from airflow_provider_hokusai.gate.baseline import BaselineCheck, FailureKind, decide, run_outcome
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger

    def check_baseline(hook: Any, criteria: Any) -> Any:
        candidate = hook.find_candidate_run(criteria)
        early = run_outcome(criteria, candidate)
        if early is not None:
            return early
        alias_baseline = None
        if criteria.baseline_alias and criteria.baseline_model_name:
            alias_baseline = hook.get_alias_metric(
                criteria.baseline_model_name, criteria.baseline_alias, criteria.metric_name
            )
        return decide(criteria, candidate, alias_baseline)

    class LegacyBaselineTrigger(MLflowBaselineTrigger):
        def _check(self, hook: Any) -> Any:
            return check_baseline(hook, self.criteria)

        async def run(self) -> AsyncIterator[Any]:
            hook = MLflowHook(mlflow_conn_id=self.mlflow_conn_id)
            try:
                while True:
                    check = await asyncio.to_thread(self._check, hook)
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

    return LegacyBaselineTrigger


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
    with counting_requests() as requests:
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
        "requests": requests[0],
        "looks": sum(looks[0] for _, looks in triggers),
        "threads_before": threads_before,
        "threads_peak": peaks["threads"],
        "rss_growth_mb": peaks["rss_mb"] - rss_before,
    }


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


def _create_runs(tracking_uri: str, count: int, tag: str) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.create_experiment(f"bench-triggerer-{tag}-{time.time_ns()}")

    def one(_: int) -> str:
        run_id = str(client.create_run(experiment).info.run_id)
        client.log_metric(run_id, "accuracy", 0.95)
        return run_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def _finish_runs(
    tracking_uri: str, plan: list[tuple[str, float]], finished: dict[str, tuple[float, float]]
) -> ThreadPoolExecutor:
    """
    Terminate each run at its absolute time; ``finished`` gets when each ``set_terminated`` was sent and when the
    server acknowledged it (the run reads FINISHED for everyone from then on, and maybe a little earlier).
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)

    def one(item: tuple[str, float]) -> None:
        run_id, at = item
        time.sleep(max(0.0, at - time.time()))
        sent = time.time()
        client.set_terminated(run_id, status="FINISHED")
        finished[run_id] = (sent, time.time())

    pool = ThreadPoolExecutor(4, thread_name_prefix="finisher")
    for item in sorted(plan, key=lambda i: i[1]):
        pool.submit(one, item)
    return pool


def run_fleet(tracking_uri: str, n: int, variant: str, interval: float, workdir: Path) -> dict[str, Any]:
    """One fleet of ``n`` triggers of ``variant`` in a fresh triggerer process; its figures."""
    run_ids = _create_runs(tracking_uri, n, f"{variant}-{n}")
    bound = interval * 3 + 120
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
        finisher = _finish_runs(tracking_uri, plan, finished)
        out, _ = child.communicate(timeout=bound + 60)
        finisher.shutdown(wait=True, cancel_futures=True)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    result = json.loads(out.strip().splitlines()[-1])["result"]
    return summarize(n, variant, interval, result, finished)


def summarize(
    n: int, variant: str, interval: float, result: dict[str, Any], finished: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """The figures of one fleet, with its goals; the delay counts from the finish's acknowledgement."""
    events = result["events"]
    delays = [events[r][0] - acked for r, (_, acked) in finished.items() if r in events]
    from_sent = [events[r][0] - sent for r, (sent, _) in finished.items() if r in events]
    finishing = [acked - sent for sent, acked in finished.values()]
    lags = result["lags_ms"]
    window = max(result["ended"] - result["started"], 1e-9)
    row = {
        "benchmark": "triggerer",
        "variant": variant,
        "n": n,
        "poll_interval_s": interval,
        "events": len(events),
        "successes": sum(1 for _, status in events.values() if status == "success"),
        "requests_per_s": round(result["requests"] / window, 1),
        "requests_per_look": round(result["requests"] / max(result["looks"], 1), 2),
        "looks": result["looks"],
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
        row["events"] == n and row["delay_p99_s"] <= row["delay_goal_s"] and row["lag_p99_ms"] < LAG_GOAL_MS
    )
    return row


def calls_per_look(tracking_uri: str) -> dict[str, int]:
    """MLflow requests of one look, before and after issue 16: run pending, run decided (value / alias baseline)."""
    from mlflow import MlflowClient

    from airflow_provider_hokusai.gate.baseline import BaselineCriteria
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger
    from hokusai_testkit.mlflow import create_run, registered_version, unique, validated_tags

    client = MlflowClient(tracking_uri=tracking_uri)
    running = create_run(tracking_uri, unique("bench-look"), metrics={"accuracy": 0.95}, status=None)
    done = create_run(tracking_uri, unique("bench-look"), metrics={"accuracy": 0.95})
    model, version, _ = registered_version(tracking_uri, validated_tags(), "bench-look")
    client.set_registered_model_alias(model, "champion", version)
    alias = {"baseline_model_name": model, "baseline_alias": "champion"}
    cases = {
        "pending": {"run_id": running, "baseline_value": 0.9},
        "decided_value": {"run_id": done, "baseline_value": 0.9},
        "decided_alias": {"run_id": done, **alias},
    }
    hook = MLflowHook(mlflow_conn_id=CONN_ID)
    hook.get_conn()  # the client is built outside the counts
    figures: dict[str, int] = {}
    for variant, cls in (("before", legacy_trigger_class()), ("after", MLflowBaselineTrigger)):
        for case, fields in cases.items():
            criteria = BaselineCriteria.model_validate({"metric_name": "accuracy", **fields})
            trigger = cls(criteria=criteria, mlflow_conn_id=CONN_ID)
            with counting_requests() as counter:
                trigger._check(hook)
            figures[f"{variant}_{case}"] = counter[0]
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
            figures[f"announce_{attempt}"] = counter[0]
        close_shared_pools()
    finally:
        redis.stop()
    return figures


def bench_triggerer(ns: list[int], variants: list[str], interval: float) -> dict[str, Any]:
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
            for n in ns:
                for variant in variants:
                    fleets.append(run_fleet(server.url, n, variant, interval, workdir))
                    print(render_fleet(fleets[-1]), flush=True)
    return {"calls": calls, "fleets": fleets}


def render_fleet(row: dict[str, Any]) -> str:
    """One fleet as a line of figures against its goals."""
    verdict = "meets goals" if row["meets_goals"] else "MISSES goals"
    return (
        f"triggerer {row['variant']:6} N={row['n']:<4} events {row['events']}/{row['n']}  "
        f"{row['requests_per_s']:>6.1f} req/s ({row['requests_per_look']:.2f}/look)  "
        f"lag p50/p99 {row['lag_p50_ms']:.0f}/{row['lag_p99_ms']:.0f} ms (goal < {row['lag_goal_ms']:.0f})  "
        f"delay p50/p99 {row['delay_p50_s']:.2f}/{row['delay_p99_s']:.2f} s (goal <= {row['delay_goal_s']:g}; "
        f"{row.get('delay_from_sent_p99_s', float('nan')):.2f} from the finish request)  "
        f"threads {row['threads_peak']}  RSS +{row['rss_growth_mb']:.0f} MB  {verdict}"
    )


def render_calls(calls: dict[str, int]) -> str:
    """MLflow requests per look and per announcement."""
    looks = ", ".join(
        f"{case} {calls[f'before_{case}']}->{calls[f'after_{case}']}"
        for case in ("pending", "decided_value", "decided_alias")
    )
    return (
        f"MLflow requests per look (before->after): {looks}; "
        f"per announcement: {calls['announce_first']} (first), {calls['announce_repeat']} (already announced)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.triggerer", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="Triggers at once (repeatable; 50, 200, 500).")
    parser.add_argument("--variant", action="append", choices=["before", "after"], help="Trigger code (both).")
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL, help="Seconds between looks.")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"Report path (default {DEFAULT_JSON}).")
    parser.add_argument("--fleet", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fleet:
        return fleet_main(args.fleet)
    ns = args.n or [50, 200, 500]
    if not all(1 <= n <= 1000 for n in ns) or not 1 <= args.poll_interval <= 60:
        parser.error("--n must be 1-1000 and --poll-interval 1-60 s (the benchmark stays bounded)")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    home = isolate_airflow_home()
    try:
        report = bench_triggerer(ns, args.variant or ["before", "after"], args.poll_interval)
    finally:
        cleanup(home)
    print(render_calls(report["calls"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"benchmark": "bench.triggerer", "cpu_count": os.cpu_count(), **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""
Per-publish overhead of the queue hooks against the bare client call on the same server, in one run.

* Redis: ``RedisQueueHook.publish`` (validation, size check, atomic dedup+LPUSH script, receipt, metrics) against a
  raw redis-py ``LPUSH`` round trip of the same JSON body. Goal: ratio <= 1.5.
* SQS: ``SqsQueueHook.publish`` (attributes, size check, retries config, receipt, metrics) against a raw boto3
  ``send_message`` of the same body to the same moto endpoint and queue. Goal: ratio <= 1.2.
* Signing: the same hook on a connection with ``signing_conn_ids`` (HMAC-SHA256 of each message, see
  docs/signing.md), measured in the same rounds as the unsigned hook; reported as µs per publish (median of the
  per-round differences) and as the ratio signed / unsigned. The pure ``sign_model_ready`` call is timed too.

The two sides alternate in small blocks (Redis) or call by call (SQS), so that load from other processes and
moto's slow-down as a queue grows hit both alike; each ratio is the median of the per-round ratios of median
latencies. Usage: ``python -m bench.publish [--rounds N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import cleanup, free_port, isolate_airflow_home, median, moto_server, redis_server

GOALS = {"redis": 1.5, "sqs": 1.2}
SIGNING_CONN = "bench_signing_key"
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef0123"


def _signing_key_connection() -> dict[str, Any]:
    """The key connection, and the queue connection extra that turns signing on."""
    os.environ[f"AIRFLOW_CONN_{SIGNING_CONN.upper()}"] = json.dumps(
        {"conn_type": "generic", "login": "bench", "password": SIGNING_SECRET}
    )
    return {"signing_conn_ids": [SIGNING_CONN]}


def pure_signing_us(samples: int = 2000) -> float:
    """Median µs of one ``sign_model_ready`` call (canonical form + HMAC + the signed copy), no I/O."""
    from airflow_provider_hokusai.signing import sign_model_ready, signing_key

    key = signing_key("bench", SIGNING_SECRET)
    messages = _messages(samples, 20_000_000)
    return median(_block(lambda m: sign_model_ready(m, key), messages)) * 1e6


def _messages(count: int, offset: int) -> list[Any]:
    from airflow_provider_hokusai.messages import build_model_ready_message

    return [
        build_model_ready_message(
            model_name="bench-model",
            model_version=offset + i,
            mlflow_run_id=f"run-{offset + i}",
            token_symbol="BENCH",
            metric_name="accuracy",
            current_value=0.91,
            baseline_value=0.85,
            experiment_name="bench",
        )
        for i in range(count)
    ]


def _block(fn: Callable[[Any], object], items: list[Any]) -> list[float]:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return times


def bench_redis(rounds: int, block: int) -> dict[str, Any]:
    import redis

    from airflow_provider_hokusai.hooks.queue import get_queue_hook
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools

    port = free_port()
    with redis_server(port):
        conn = {"conn_type": "redis", "host": "127.0.0.1", "port": port}
        os.environ["AIRFLOW_CONN_BENCH_REDIS"] = json.dumps(conn)
        os.environ["AIRFLOW_CONN_BENCH_REDIS_SIGNED"] = json.dumps({**conn, "extra": _signing_key_connection()})
        hook = get_queue_hook("bench_redis")
        signed_hook = get_queue_hook("bench_redis_signed", queue_name="bench:signed")
        raw = redis.Redis(host="127.0.0.1", port=port)
        warm = _messages(200, 10_000_000)
        body = warm[0].to_json()
        _block(hook.publish, warm)
        _block(signed_hook.publish, warm)
        _block(lambda _: raw.lpush("bench:raw", body), warm)
        raw_medians, hook_medians, ratios, signed = [], [], [], _SignedSide()
        for r in range(rounds):
            messages = _messages(block, r * block)
            raw_times = _block(lambda _: raw.lpush("bench:raw", body), messages)
            hook_times = _block(hook.publish, messages)
            signed.add(_block(signed_hook.publish, messages), hook_times)
            raw_medians.append(median(raw_times))
            hook_medians.append(median(hook_times))
            ratios.append(hook_medians[-1] / raw_medians[-1])
        close_shared_pools()
        raw.close()
    summary = _summary("redis", "RedisQueueHook.publish", "redis-py LPUSH", raw_medians, hook_medians, ratios, block)
    return summary | signed.summary()


def bench_sqs(rounds: int, block: int) -> dict[str, Any]:
    import boto3

    from airflow_provider_hokusai.hooks.queue import get_queue_hook

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with moto_server(port):
        credentials = {"aws_access_key_id": "bench-access-key", "aws_secret_access_key": "bench-secret-key"}
        conn: dict[str, Any] = {
            "conn_type": "aws",
            "login": credentials["aws_access_key_id"],
            "password": credentials["aws_secret_access_key"],
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        os.environ["AIRFLOW_CONN_BENCH_SQS"] = json.dumps(conn)
        signing = {**conn, "extra": {**conn["extra"], **_signing_key_connection()}}
        os.environ["AIRFLOW_CONN_BENCH_SQS_SIGNED"] = json.dumps(signing)
        raw = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", **credentials)
        url = raw.create_queue(QueueName="bench-warm-up")["QueueUrl"]
        hook = get_queue_hook("bench_sqs", queue_name="bench-warm-up")
        warm = _messages(20, 10_000_000)
        body = warm[0].to_json()
        signed_hook = get_queue_hook("bench_sqs_signed", queue_name="bench-warm-up")
        for message in warm:
            hook.publish(message)
            signed_hook.publish(message)
            raw.send_message(QueueUrl=url, MessageBody=body)
        raw_medians, hook_medians, ratios, signed = [], [], [], _SignedSide()
        for r in range(rounds):
            # moto slows down as a queue grows: each round starts on an empty queue (PurgeQueue is rate limited),
            # and the two sides alternate call by call on it.
            url = raw.create_queue(QueueName=f"bench-model-ready-{r}")["QueueUrl"]
            hook = get_queue_hook("bench_sqs", queue_name=url)
            signed_hook = get_queue_hook("bench_sqs_signed", queue_name=url)
            raw_times, hook_times, signed_times = [], [], []
            for message in _messages(block, r * block):
                start = time.perf_counter()
                raw.send_message(QueueUrl=url, MessageBody=body)
                raw_times.append(time.perf_counter() - start)
                hook_times += _block(hook.publish, [message])
                signed_times += _block(signed_hook.publish, [message])
            signed.add(signed_times, hook_times)
            raw_medians.append(median(raw_times))
            hook_medians.append(median(hook_times))
            ratios.append(hook_medians[-1] / raw_medians[-1])
    summary = _summary("sqs", "SqsQueueHook.publish", "boto3 send_message", raw_medians, hook_medians, ratios, block)
    return summary | signed.summary()


class _SignedSide:
    """The signed hook's latencies, round by round, against the unsigned hook's of the same round."""

    def __init__(self) -> None:
        self.medians: list[float] = []
        self.costs: list[float] = []
        self.ratios: list[float] = []

    def add(self, signed_times: list[float], unsigned_times: list[float]) -> None:
        signed, unsigned = median(signed_times), median(unsigned_times)
        self.medians.append(signed)
        self.costs.append(signed - unsigned)
        self.ratios.append(signed / unsigned)

    def summary(self) -> dict[str, Any]:
        return {
            "signed_median_us": round(median(self.medians) * 1e6, 1),
            "signing_cost_us": round(median(self.costs) * 1e6, 1),
            "signing_ratio": round(median(self.ratios), 3),
        }


def _summary(
    backend: str,
    subject: str,
    baseline: str,
    raw_medians: list[float],
    hook_medians: list[float],
    ratios: list[float],
    block: int,
) -> dict[str, Any]:
    ratio = median(ratios)
    return {
        "backend": backend,
        "subject": subject,
        "baseline": baseline,
        "rounds": len(ratios),
        "calls_per_round": block,
        "baseline_median_us": round(median(raw_medians) * 1e6, 1),
        "hook_median_us": round(median(hook_medians) * 1e6, 1),
        "ratio": round(ratio, 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "goal": GOALS[backend],
        "meets_goal": ratio <= GOALS[backend],
    }


def render(results: list[dict[str, Any]]) -> str:
    header = f"{'backend':8} {'hook call':24} {'baseline':20} {'base µs':>9} {'hook µs':>9} {'ratio':>6} {'goal':>6}"
    lines = [header, "-" * len(header)]
    for r in results:
        verdict = "ok" if r["meets_goal"] else "MISSED"
        lines.append(
            f"{r['backend']:8} {r['subject']:24} {r['baseline']:20} {r['baseline_median_us']:>9.1f} "
            f"{r['hook_median_us']:>9.1f} {r['ratio']:>6.2f} {'<=' + str(r['goal']):>6} {verdict}"
        )
    for r in results:
        lines.append(
            f"signing on {r['backend']}: {r['signed_median_us']:.1f} µs signed vs {r['hook_median_us']:.1f} µs "
            f"unsigned per publish: +{r['signing_cost_us']:.1f} µs, ratio {r['signing_ratio']:.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publish", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="Alternating rounds per backend (median taken).")
    parser.add_argument("--redis-block", type=int, default=400, help="Redis calls per side per round.")
    parser.add_argument("--sqs-block", type=int, default=40, help="SQS calls per side per round.")
    parser.add_argument("--backend", choices=["redis", "sqs", "all"], default="all")
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON to this path.")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 50 or not 1 <= args.redis_block <= 5000 or not 1 <= args.sqs_block <= 500:
        parser.error("--rounds must be 1-50, --redis-block 1-5000, --sqs-block 1-500 (the benchmark stays bounded)")

    home = isolate_airflow_home()
    started = time.perf_counter()
    try:
        results = []
        if args.backend in ("redis", "all"):
            results.append(bench_redis(args.rounds, args.redis_block))
        if args.backend in ("sqs", "all"):
            results.append(bench_sqs(args.rounds, args.sqs_block))
    finally:
        cleanup(home)
    report = {
        "benchmark": "bench.publish",
        "pure_signing_us": round(pure_signing_us(), 1),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    print(render(results))
    print(f"sign_model_ready alone: {report['pure_signing_us']} µs per message")
    print(f"({report['wall_seconds']} s; ratio = median over rounds of hook median / baseline median latency)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

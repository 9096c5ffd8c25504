"""
Fault injection at scale: announce N distinct validated versions through the real publish path while the brokers
are killed and cut off, then drain the queues and count what arrived.

``make reliability-full`` (``python -m bench.reliability``) runs three backends, one after the other:

* **redis** — its own ``redis-server`` on a free loopback port, AOF with ``appendfsync always`` (an acknowledged
  write is on disk before the reply, so "lost" means lost by the provider, not by a broker configured to forget);
  a chaos thread SIGKILLs and restarts it. ``--redis-durability none`` turns AOF off to show what the broker
  itself then loses on ``kill -9``.
* **sqs-fifo** and **sqs-standard** — one ``moto_server`` behind a TCP proxy process on another port; the chaos
  thread SIGKILLs the proxy (open connections reset, port refusing) and starts it again, so queue state survives.

Each version is one "task": ``ModelReadyAnnouncer.announce`` (real ``RedisQueueHook`` / ``SqsQueueHook`` from
``get_queue_hook``, receipts written back) retried as Airflow would retry a task on a :class:`HokusaiRetryableError`
(:func:`run_like_an_airflow_task`); the hook's client retries underneath. The receipt store is the testkit's in-
process, thread-safe registry fake (:class:`~hokusai_testkit.registry.FakeMLflowRegistry`) because a real MLflow
server is the bottleneck at this scale; the queue side is never faked. After the chaos stops, a reconciliation pass
(``reconcile.reconcile``) heals tasks that used up their retries, as the reconciliation DAG would; then a
consumer drains the queue (Redis after one last kill -9 and restart) and reports
delivered unique, lost, duplicates, attempts and p50/p99 announce latency.

Exit status 1 when a version was lost, when Redis or SQS FIFO delivered a duplicate, when a version ends without
its receipt, or when the run did not finish within ``--max-seconds``. Standard SQS may deliver duplicates (at-least
once); they are reported, each one identified by its ``message_id`` attribute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hokusai_testkit.ports import free_port
from hokusai_testkit.redis import RedisProcess
from hokusai_testkit.registry import FakeMLflowRegistry

REPO = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO / ".bench" / "reliability.json"
REDIS_QUEUE = "hokusai:reliability"
MODELS = 20


# Chaos.


class Chaos:
    """
    A thread that takes a broker down and brings it back, again and again, until stopped.

    :param down: Kills the broker (or its endpoint).
    :param up: Starts it again and waits until it accepts connections.
    :param up_seconds: Range of the time the broker stays up.
    :param down_seconds: Range of the outage.
    """

    def __init__(
        self,
        name: str,
        down: Callable[[], None],
        up: Callable[[], object],
        up_seconds: tuple[float, float],
        down_seconds: tuple[float, float],
        seed: int,
    ) -> None:
        self.name = name
        self._down, self._up = down, up
        self._up_seconds, self._down_seconds = up_seconds, down_seconds
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"chaos-{name}", daemon=True)
        self.cycles = 0
        self.downtime = 0.0
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._random.uniform(*self._up_seconds)):
                self._down()
                outage = self._random.uniform(*self._down_seconds)
                start = time.monotonic()
                self._stop.wait(outage)
                self._up()
                self.downtime += time.monotonic() - start
                self.cycles += 1
        except BaseException as exc:  # reported, and the run fails: chaos that died proves nothing
            self.error = exc

    def __enter__(self) -> Chaos:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


# One backend's run.


@dataclass
class BackendResult:
    backend: str
    versions: int
    delivered_messages: int = 0
    delivered_unique: int = 0
    lost: int = 0
    duplicates: int = 0
    duplicates_allowed: bool = False
    duplicate_ids: list[str] = field(default_factory=list)
    unknown_messages: int = 0
    invalid_messages: int = 0
    task_attempts: int = 0
    task_retries: int = 0
    broker_attempts: int = 0
    tasks_failed: int = 0
    #: Versions announced by two concurrent tasks (racing workers), on top of the one task every version gets.
    raced_versions: int = 0
    healed_by_reconciliation: int = 0
    without_receipt: int = 0
    receipt_mismatch: int = 0
    unexpected_errors: dict[str, int] = field(default_factory=dict)
    chaos_cycles: int = 0
    chaos_downtime_seconds: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_max_ms: float = 0.0
    announce_seconds: float = 0.0
    wall_seconds: float = 0.0
    finished: bool = True
    chaos_error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.finished
            and self.chaos_error is None
            and self.lost == 0
            and (self.duplicates == 0 or self.duplicates_allowed)
            and self.without_receipt == 0
            and self.receipt_mismatch == 0
            and self.unknown_messages == 0
            and self.invalid_messages == 0
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class Settings:
    """Knobs of one run; the defaults are ``make reliability-full``'s."""

    redis_versions: int = 2000
    sqs_versions: int = 300
    redis_seconds: float = 40.0
    sqs_seconds: float = 45.0
    workers: int = 8
    redis_up: tuple[float, float] = (0.5, 1.5)
    redis_down: tuple[float, float] = (0.2, 1.0)
    sqs_up: tuple[float, float] = (0.8, 2.0)
    sqs_down: tuple[float, float] = (0.3, 1.5)
    redis_durability: str = "aof"
    backends: tuple[str, ...] = ("redis", "sqs-fifo", "sqs-standard")
    max_seconds: float = 900.0
    seed: int = 7
    signed: bool = False


# --signed: every queue connection of the run signs with this key (docs/signing.md), every delivered body is verified.
SIGNING_CONN = "hokusai_reliability_signing"
SIGNING_KEYS = {"reliability": "reliability-signing-secret-0123456789abcdef"}


def signing_extra(settings: Settings) -> dict[str, Any]:
    """The queue connection extra that turns signing on (and its key connection), or nothing."""
    if not settings.signed:
        return {}
    [(key_id, secret)] = SIGNING_KEYS.items()
    key = {"conn_type": "generic", "login": key_id, "password": secret}
    os.environ[f"AIRFLOW_CONN_{SIGNING_CONN.upper()}"] = json.dumps(key)
    return {"signing_conn_ids": [SIGNING_CONN]}


# One version in RACE_EVERY is announced by two tasks at once (racing workers).
RACE_EVERY = 5
# Airflow's task retries, shortened from minutes to seconds: 8 tries, exponential backoff from 0.4 s capped at 3 s.
TASK_ATTEMPTS = 8
TASK_BACKOFF = (0.2, 3.0)


def run_like_an_airflow_task(attempt: Callable[[], Any], deadline: float) -> tuple[Any, str | None, int]:
    """
    Call ``attempt`` until it returns, retrying a ``HokusaiRetryableError`` the way Airflow retries a task.

    :return: the outcome (None when it failed), the error (None on success) and the tries made.
    """
    from airflow_provider_hokusai.exceptions import HokusaiRetryableError

    for tries in range(1, TASK_ATTEMPTS + 1):
        if time.monotonic() > deadline:
            return None, "TimeoutError", tries - 1
        try:
            return attempt(), None, tries
        except HokusaiRetryableError:
            if tries == TASK_ATTEMPTS:
                return None, "retries used up", tries
            delay = min(TASK_BACKOFF[1], TASK_BACKOFF[0] * 2**tries)
            time.sleep(delay / 2 + random.uniform(0, delay / 2))
        except Exception as exc:
            return None, type(exc).__name__, tries
    return None, "retries used up", TASK_ATTEMPTS


def hook_policy() -> Any:
    """The queue hook's own in-task retry of one publish."""
    from airflow_provider_hokusai.queue.retry import RetryPolicy

    return RetryPolicy(attempts=3, backoff_base=0.05, backoff_cap=0.5, jitter="equal")


def _seed(registry: FakeMLflowRegistry, prefix: str, count: int) -> list[tuple[str, str]]:
    from airflow_provider_hokusai.registry import tags as t

    refs = []
    for i in range(count):
        name, version = f"{prefix}-model-{i % MODELS:02d}", str(i // MODELS + 1)
        registry.add_validated(
            name,
            version,
            run_id=f"run-{name}-{version}",
            current=0.9 + (i % 7) / 1000,
            baseline=0.85,
            **{t.TOKEN_ID: "HKREL", t.EXPERIMENT_NAME: "reliability"},
        )
        refs.append((name, version))
    return refs


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def announce_all(
    announcer: Any,
    refs: list[tuple[str, str]],
    seconds: float,
    workers: int,
    deadline: float,
    result: BackendResult,
) -> None:
    """
    Run one task per version, started at a steady pace over ``seconds`` so the chaos cycles overlap the whole run;
    each task retries the announcement like Airflow retries a task. Every :data:`RACE_EVERY`-th version gets a second
    task started at the same moment: two workers racing on one version, as overlapping DAG runs would.
    """
    from airflow_provider_hokusai.announcement.announcer import VersionRef

    latencies: list[float] = []
    lock = threading.Lock()
    start_at = time.monotonic()
    interval = seconds / max(1, len(refs))

    def task(index: int, name: str, version: str) -> None:
        delay = start_at + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        started = time.perf_counter()
        outcome, error, attempts = run_like_an_airflow_task(
            lambda: announcer.announce(VersionRef(name, version)), deadline
        )
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            result.task_attempts += attempts
            result.task_retries += max(0, attempts - 1)
            if outcome is not None:
                latencies.append(elapsed)
                if outcome.receipt:
                    result.broker_attempts += int(outcome.receipt.get("attempts", 1) or 1)
            else:
                result.tasks_failed += 1
                if error != "retries used up":
                    result.unexpected_errors[error or "?"] = result.unexpected_errors.get(error or "?", 0) + 1

    began = time.perf_counter()
    racing = [(i, n, v) for i, (n, v) in enumerate(refs) if i % RACE_EVERY == 0]
    result.raced_versions = len(racing)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="task") as pool:
        jobs = sorted([(i, n, v) for i, (n, v) in enumerate(refs)] + racing)
        for future in [pool.submit(task, i, n, v) for i, n, v in jobs]:
            future.result()
    result.announce_seconds = round(time.perf_counter() - began, 2)
    result.latency_p50_ms = round(_percentile(latencies, 0.5), 2)
    result.latency_p99_ms = round(_percentile(latencies, 0.99), 2)
    result.latency_max_ms = round(max(latencies, default=0.0), 2)


def reconcile_and_check(
    announcer: Any, registry: FakeMLflowRegistry, refs: list[tuple[str, str]], result: BackendResult
) -> set[str]:
    """Heal what the tasks left behind, then check every version has a receipt naming its own message id."""
    from airflow_provider_hokusai.announcement.reconcile import reconcile
    from airflow_provider_hokusai.messages import message_id_for
    from airflow_provider_hokusai.registry.evidence import receipt_from_tags

    if result.tasks_failed:
        summary = reconcile(announcer, max_versions=len(refs) + 1)
        result.healed_by_reconciliation = int(summary["published"])
    expected = {message_id_for(n, v) for n, v in refs}
    for version in registry.versions():
        if receipt_from_tags(version.tags) is None:
            result.without_receipt += 1
        elif (receipt_from_tags(version.tags) or {}).get("message_id") != message_id_for(version.name, version.version):
            result.receipt_mismatch += 1
    return expected


def count_delivered(ids: list[str | None], expected: set[str], result: BackendResult) -> None:
    counts = Counter(i for i in ids if i is not None)
    result.invalid_messages += sum(1 for i in ids if i is None)
    result.delivered_messages = len(ids)
    result.delivered_unique = len(set(counts) & expected)
    result.unknown_messages = len(set(counts) - expected)
    result.lost = len(expected - set(counts))
    result.duplicates = sum(c - 1 for c in counts.values() if c > 1)
    result.duplicate_ids = sorted(i for i, c in counts.items() if c > 1)


def _message_id_of(body: str | bytes, signed: bool = False) -> str | None:
    """The message id of a delivered body, or None when it breaks the contract (or, signed, fails verification)."""
    from airflow_provider_hokusai.exceptions import InvalidModelReadyMessage
    from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
    from airflow_provider_hokusai.signing import verify_model_ready

    try:
        if signed:
            return verify_model_ready(body, SIGNING_KEYS).message_id
        return ModelReadyToDeployMessage.from_json(body).message_id
    except InvalidModelReadyMessage:
        return None


def run_redis(settings: Settings, deadline: float, workdir: Path) -> BackendResult:
    from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
    from airflow_provider_hokusai.hooks.queue import get_queue_hook
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools

    began = time.perf_counter()
    result = BackendResult("redis", settings.redis_versions)
    data_dir = None
    if settings.redis_durability == "aof":
        data_dir = workdir / "redis"
        data_dir.mkdir()
    server = RedisProcess(port=free_port(), data_dir=data_dir).start()
    try:
        os.environ["AIRFLOW_CONN_HOKUSAI_RELIABILITY_REDIS"] = json.dumps(
            {
                "conn_type": "redis",
                "host": "127.0.0.1",
                "port": server.port,
                # Short timeouts: a killed server resets at once, but a task must not hang on a half-open socket.
                "extra": {
                    "queue": REDIS_QUEUE,
                    "socket_timeout": 2,
                    "socket_connect_timeout": 1,
                    **signing_extra(settings),
                },
            }
        )
        registry = FakeMLflowRegistry()
        refs = _seed(registry, "redis", settings.redis_versions)
        hook = get_queue_hook("hokusai_reliability_redis", retry=hook_policy())
        announcer = ModelReadyAnnouncer(registry, hook)  # type: ignore[arg-type]
        chaos = Chaos("redis", server.kill, server.start, settings.redis_up, settings.redis_down, settings.seed)
        with chaos:
            announce_all(announcer, refs, settings.redis_seconds, settings.workers, deadline, result)
        result.chaos_cycles, result.chaos_downtime_seconds = chaos.cycles, round(chaos.downtime, 2)
        result.chaos_error = repr(chaos.error) if chaos.error else None
        if server.process is None or server.process.poll() is not None:
            server.start()
        expected = reconcile_and_check(announcer, registry, refs, result)
        # One last kill -9 before the consumer reads: what was acknowledged must be on disk.
        server.restart()
        client = server.client()
        bodies: list[bytes] = client.lrange(REDIS_QUEUE, 0, -1)
        client.close()
        count_delivered([_message_id_of(b, settings.signed) for b in bodies], expected, result)
        result.finished = time.monotonic() <= deadline
    finally:
        close_shared_pools()
        server.stop()
    result.wall_seconds = round(time.perf_counter() - began, 2)
    return result


def drain_sqs(client: Any, url: str, idle_rounds: int = 3, signed: bool = False) -> list[str | None]:
    """Receive and delete everything on the queue; returns each message's id (None when it breaks the contract)."""
    ids: list[str | None] = []
    idle = 0
    while idle < idle_rounds:
        response = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=120
        )
        messages = response.get("Messages", [])
        if not messages:
            idle += 1
            time.sleep(0.1)
            continue
        idle = 0
        for message in messages:
            body_id = _message_id_of(message["Body"], signed)
            attribute = message.get("MessageAttributes", {}).get("message_id", {}).get("StringValue")
            # The attribute is how a consumer spots a duplicate without parsing; it must agree with the body.
            ids.append(body_id if body_id is not None and body_id == attribute else None)
        client.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return ids


def run_sqs(settings: Settings, deadline: float, backends: Sequence[str]) -> list[BackendResult]:
    from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
    from airflow_provider_hokusai.hooks.queue import get_queue_hook
    from bench.tcp_proxy import ProxyProcess
    from hokusai_testkit.sqs import ACCESS_KEY, REGION, SECRET_KEY, start_moto

    began = time.perf_counter()
    moto = start_moto()
    proxy = ProxyProcess(free_port(), moto.port)
    results: list[BackendResult] = []
    try:
        proxy.start()
        direct = moto.client()
        os.environ["AIRFLOW_CONN_HOKUSAI_RELIABILITY_SQS"] = json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY,
                "password": SECRET_KEY,
                "extra": {
                    "endpoint_url": f"http://127.0.0.1:{proxy.listen}",
                    "region_name": REGION,
                    "config_kwargs": {"connect_timeout": 1, "read_timeout": 5},
                    **signing_extra(settings),
                },
            }
        )
        runs = []
        for backend in backends:
            fifo = backend == "sqs-fifo"
            name = "hokusai-reliability.fifo" if fifo else "hokusai-reliability"
            url = direct.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
            registry = FakeMLflowRegistry()
            refs = _seed(registry, backend, settings.sqs_versions)
            hook = get_queue_hook("hokusai_reliability_sqs", queue_name=url, retry=hook_policy())
            result = BackendResult(backend, settings.sqs_versions, duplicates_allowed=not fifo)
            runs.append((ModelReadyAnnouncer(registry, hook), registry, refs, url, result))  # type: ignore[arg-type]
        chaos = Chaos("sqs", proxy.kill, proxy.start, settings.sqs_up, settings.sqs_down, settings.seed)
        with chaos:
            # Both queues share the endpoint, so they share the outages: their tasks run side by side.
            threads = [
                threading.Thread(
                    target=announce_all,
                    args=(announcer, refs, settings.sqs_seconds, max(1, settings.workers // len(runs)), deadline, res),
                )
                for announcer, _, refs, _, res in runs
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        if proxy.process is None:
            proxy.start()
        for announcer, registry, refs, url, result in runs:
            result.chaos_cycles, result.chaos_downtime_seconds = chaos.cycles, round(chaos.downtime, 2)
            result.chaos_error = repr(chaos.error) if chaos.error else None
            expected = reconcile_and_check(announcer, registry, refs, result)
            count_delivered(drain_sqs(direct, url, signed=settings.signed), expected, result)
            result.finished = time.monotonic() <= deadline
            results.append(result)
    finally:
        proxy.kill()
        moto.stop()
    wall = round(time.perf_counter() - began, 2)
    for result in results:
        result.wall_seconds = wall
    return results


def run(settings: Settings) -> list[BackendResult]:
    """Run the selected backends; the caller must have isolated AIRFLOW_HOME before Airflow is imported."""
    deadline = time.monotonic() + settings.max_seconds
    results: list[BackendResult] = []
    with tempfile.TemporaryDirectory(prefix="hokusai-reliability-") as tmp:
        if "redis" in settings.backends:
            results.append(run_redis(settings, deadline, Path(tmp)))
        sqs = [b for b in ("sqs-fifo", "sqs-standard") if b in settings.backends]
        if sqs:
            results.extend(run_sqs(settings, deadline, sqs))
    return results


def render(results: list[BackendResult]) -> str:
    header = (
        f"{'backend':13} {'versions':>8} {'raced':>5} {'unique':>7} {'lost':>5} {'dups':>5} {'task att':>8} "
        f"{'retries':>7} {'healed':>6} {'no rcpt':>7} {'chaos':>5} {'p50 ms':>8} {'p99 ms':>9} {'s':>6}  verdict"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        dups = f"{r.duplicates}{'*' if r.duplicates and r.duplicates_allowed else ''}"
        lines.append(
            f"{r.backend:13} {r.versions:>8} {r.raced_versions:>5} {r.delivered_unique:>7} {r.lost:>5} {dups:>5} "
            f"{r.task_attempts:>8} "
            f"{r.task_retries:>7} {r.healed_by_reconciliation:>6} {r.without_receipt:>7} {r.chaos_cycles:>5} "
            f"{r.latency_p50_ms:>8.1f} {r.latency_p99_ms:>9.1f} {r.wall_seconds:>6.1f}  {'ok' if r.ok else 'FAIL'}"
        )
    if any(r.duplicates and r.duplicates_allowed for r in results):
        lines.append("* standard SQS is at-least-once: duplicates allowed, each identified by its message_id")
    return "\n".join(lines)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Also silence loggers that do not go through Airflow's logging configuration (urllib3, botocore)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.strip().splitlines()[0])
    defaults = Settings()
    parser.add_argument("--redis-versions", type=int, default=defaults.redis_versions)
    parser.add_argument("--sqs-versions", type=int, default=defaults.sqs_versions, help="Per SQS queue.")
    parser.add_argument("--redis-seconds", type=float, default=defaults.redis_seconds, help="Pace of the tasks.")
    parser.add_argument("--sqs-seconds", type=float, default=defaults.sqs_seconds, help="Pace of the tasks.")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="Concurrent tasks.")
    parser.add_argument("--redis-durability", choices=["aof", "none"], default=defaults.redis_durability)
    parser.add_argument(
        "--backend", action="append", choices=["redis", "sqs-fifo", "sqs-standard"], help="Repeatable; default all."
    )
    parser.add_argument("--max-seconds", type=float, default=defaults.max_seconds, help="Hard bound of the run.")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"Report path (default {DEFAULT_JSON}).")
    parser.add_argument("--verbose", action="store_true", help="Keep the retry warnings.")
    parser.add_argument("--signed", action="store_true", help="Sign every message and verify every delivered one.")
    args = parser.parse_args(argv)
    if not 1 <= args.redis_versions <= 100_000 or not 1 <= args.sqs_versions <= 10_000 or not 1 <= args.workers <= 64:
        parser.error("--redis-versions 1-100000, --sqs-versions 1-10000, --workers 1-64")
    settings = Settings(
        redis_versions=args.redis_versions,
        sqs_versions=args.sqs_versions,
        redis_seconds=args.redis_seconds,
        sqs_seconds=args.sqs_seconds,
        workers=args.workers,
        redis_durability=args.redis_durability,
        backends=tuple(args.backend or defaults.backends),
        max_seconds=args.max_seconds,
        seed=args.seed,
        signed=args.signed,
    )

    from bench.common import cleanup, isolate_airflow_home

    if not args.verbose:
        # Thousands of expected retry warnings would bury the table; the counts are in the report. Set before
        # Airflow is imported, as it configures its loggers then.
        os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    home = isolate_airflow_home()
    started = time.perf_counter()
    try:
        with contextlib.nullcontext() if args.verbose else quiet_logs():
            results = run(settings)
    finally:
        cleanup(home)
    report = {
        "benchmark": "bench.reliability",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "settings": asdict(settings),
        "receipt_store": "in-process registry fake (hokusai_testkit FakeMLflowRegistry); queues are real brokers",
        "wall_seconds": round(time.perf_counter() - started, 1),
        "ok": all(r.ok for r in results),
        "results": [r.to_dict() for r in results],
    }
    print(render(results))
    print(f"({report['wall_seconds']} s in all; report in {args.json})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

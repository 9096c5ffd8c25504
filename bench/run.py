"""
All the benchmarks in one run (``make bench``), printed as one table of ratios against baselines measured in the
same run, in alternating rounds, medians taken.

* **publish** — ``RedisQueueHook.publish`` / ``SqsQueueHook.publish`` vs the raw client call (:mod:`bench.publish`).
* **signing** — the same publish on a signing connection (``signing_conn_ids``) vs the unsigned publish, in the same
  rounds: signing's cost in µs per publish and the ratio signed / unsigned.
* **operator** — ``PublishModelReadyOperator.execute`` vs the official ``SqsPublishOperator.execute`` on the same
  message body, attributes and moto endpoint (standard queue). Ours reads the version from MLflow and writes the
  receipt back; its registry is MLflow's embedded sqlite store (``sqlite:///...``, the same code path as a server
  minus HTTP), so the ratio is mostly the price of the registry round trips the official operator does not do.
* **batch** — replaying many versions: ``SqsQueueHook``/``RedisQueueHook.publish_many`` and
  ``ModelReadyAnnouncer.announce_many`` (registry: in-process fake, to isolate the provider's own cost) vs raw
  pipelined ``LPUSH`` and raw ``send_message_batch``; ratio = time of ours / time of raw (1.0 = same throughput).
* **triggerer** — N = 50, 500, 5,000 ``MLflowBaselineTrigger`` s at once in one triggerer process, poll 10 s,
  against a real ``mlflow server`` (:mod:`bench.triggerer`), the trigger before and after looks were batched:
  events and decisions, MLflow requests per poll, loop lag and finish-to-event delay against their goals (delay p99
  <= poll interval + 1 s, lag p99 < 100 ms), threads, RSS, MLflow calls per look and per announcement. Several
  minutes; ``--only`` leaves it out when not named.
* **ui** — the Hokusai page's data endpoint on a registry of 10,000 versions served by a real ``mlflow server``
  (:mod:`bench.ui`): median, p95 and slowest answer of each query against the 500 ms goal (issue 14).
* **cli** — ``hokusai-reconcile --help`` and ``hokusai-webhook --help`` in a fresh interpreter vs ``python -c pass``
  (:mod:`bench.cli`), against the goal of under 1 s each.
* **parse** — importing each ``dags/*.py`` in a fresh interpreter whose Airflow imports (the file's own) are done
  first, as in a DAG processor, vs an empty DAG file with the same Airflow imports; the difference in ms against the
  +20 ms goal, and the heavy modules the file adds (mlflow, boto3...).
* **deployment** — in a real deployment (:mod:`bench.deployment`): a ``PublishModelReadyOperator`` task vs an official
  ``SqsPublishOperator`` task (goal <= 1.5x), and registration -> message through the webhook vs the deployment's
  floor (asset event -> task end; goal: p50 within 3 s). Several minutes.

Usage: ``python -m bench.run [--rounds N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

from bench.common import cleanup, free_port, isolate_airflow_home, median, moto_server, redis_server

REPO = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO / ".bench" / "bench.json"
HEAVY = ("mlflow", "boto3", "botocore", "aiobotocore", "redis", "sklearn", "numpy", "pandas", "scipy")
ALL = ["publish", "operator", "batch", "parse", "cli", "triggerer", "ui", "deployment"]
AWS = {"aws_access_key_id": "bench-access-key", "aws_secret_access_key": "bench-secret-key", "region_name": "us-east-1"}


def _row(name: str, subject: str, baseline: str, ours: float, raw: float, ratios: list[float], unit: str) -> dict:
    return {
        "benchmark": name,
        "subject": subject,
        "baseline": baseline,
        "ours": round(ours, 3),
        "raw": round(raw, 3),
        "unit": unit,
        "ratio": round(median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "rounds": len(ratios),
    }


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# Operator vs official operator.


def _aws_conn(endpoint: str) -> str:
    return json.dumps(
        {
            "conn_type": "aws",
            "login": AWS["aws_access_key_id"],
            "password": AWS["aws_secret_access_key"],
            "extra": {"endpoint_url": endpoint, "region_name": AWS["region_name"]},
        }
    )


def bench_operator(rounds: int, block: int, workdir: Path) -> dict[str, Any]:
    import boto3
    from airflow.providers.amazon.aws.operators.sqs import SqsPublishOperator
    from mlflow import MlflowClient

    from airflow_provider_hokusai.announcement.announcer import message_from_version_tags
    from airflow_provider_hokusai.hooks.base_queue import message_attributes
    from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator
    from airflow_provider_hokusai.registry import tags as t

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    os.environ["AIRFLOW_CONN_BENCH_MLFLOW"] = json.dumps({"conn_type": "mlflow", "extra": {"tracking_uri": uri}})
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench", artifact_location=str(workdir / "artifacts"))
    name = "bench-operator-model"
    client.create_registered_model(name)
    evidence = {
        t.STATUS: t.STATUS_VALIDATED,
        t.TOKEN_ID: "BENCH",
        t.BENCHMARK_METRIC: "accuracy",
        t.BENCHMARK_VALUE: "0.85",
        t.CURRENT_VALUE: "0.91",
        t.DIRECTION: "higher_is_better",
    }
    versions = []
    for _ in range(rounds * block + 2):
        run_id = client.create_run(experiment).info.run_id
        version = str(client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id).version)
        for key, value in {**evidence, t.RUN_ID: run_id}.items():
            client.set_model_version_tag(name, version, key, value)
        versions.append(version)

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    context: Any = {"ti": _TI()}
    ours_medians, raw_medians, ratios = [], [], []
    with moto_server(port):
        os.environ["AIRFLOW_CONN_BENCH_SQS"] = _aws_conn(endpoint)
        sqs = boto3.client("sqs", endpoint_url=endpoint, **AWS)
        cursor = 0
        for r in range(-1, rounds):  # round -1 warms both paths up and is not counted
            url = sqs.create_queue(QueueName=f"bench-operator-{r + 1}")["QueueUrl"]
            ours_times, raw_times = [], []
            for _ in range(block if r >= 0 else 2):
                version = versions[cursor]
                cursor += 1
                tags = dict(client.get_model_version(name, version).tags)
                message = message_from_version_tags(name, version, tags)
                official = SqsPublishOperator(
                    task_id="official",
                    sqs_queue=url,
                    message_content=message.to_json(),
                    message_attributes={
                        k: {"DataType": "String", "StringValue": v} for k, v in message_attributes(message).items()
                    },
                    aws_conn_id="bench_sqs",
                )
                ours = PublishModelReadyOperator(
                    task_id="ours",
                    model_name=name,
                    model_version=version,
                    queue_conn_id="bench_sqs",
                    queue_name=url,
                    mlflow_conn_id="bench_mlflow",
                )
                raw_times.append(_timed(partial(official.execute, context)))
                ours_times.append(_timed(partial(ours.execute, context)))
            if r >= 0:
                ours_medians.append(median(ours_times))
                raw_medians.append(median(raw_times))
                ratios.append(ours_medians[-1] / raw_medians[-1])
    return _row(
        "operator",
        "PublishModelReadyOperator.execute (sqlite MLflow)",
        "SqsPublishOperator.execute",
        median(ours_medians) * 1000,
        median(raw_medians) * 1000,
        ratios,
        "ms/call",
    )


class _TI:
    def xcom_push(self, key: str, value: object) -> None:
        return None


# Batch replay.


def _messages(count: int, offset: int, prefix: str) -> list[Any]:
    from airflow_provider_hokusai.messages import build_model_ready_message

    return [
        build_model_ready_message(
            model_name=f"{prefix}-model",
            model_version=offset + i,
            mlflow_run_id=f"run-{offset + i}",
            token_symbol="BENCH",
            metric_name="accuracy",
            current_value=0.91,
            baseline_value=0.85,
        )
        for i in range(count)
    ]


def _registry_with(prefix: str, offset: int, count: int) -> tuple[Any, list[Any]]:
    from airflow_provider_hokusai.announcement.announcer import VersionRef
    from hokusai_testkit.registry import FakeMLflowRegistry

    registry = FakeMLflowRegistry()
    refs = []
    for i in range(count):
        registry.add_validated(f"{prefix}-model", str(offset + i), current=0.91, baseline=0.85)
        refs.append(VersionRef(f"{prefix}-model", str(offset + i)))
    return registry, refs


@dataclass
class _BatchSamples:
    """Per-round timings of a batch benchmark's three sides: raw client, ``publish_many``, ``announce_many``."""

    size: int
    keep: bool = True
    raw_rates: list[float] = field(default_factory=list)
    hook_rates: list[float] = field(default_factory=list)
    announce_rates: list[float] = field(default_factory=list)
    hook_ratios: list[float] = field(default_factory=list)
    announce_ratios: list[float] = field(default_factory=list)

    def time_round(
        self, raw: Callable[[], object], publish: Callable[[], object], announce: Callable[[], object]
    ) -> None:
        raw_time, hook_time, announce_time = _timed(raw), _timed(publish), _timed(announce)
        if self.keep:
            self.raw_rates.append(self.size / raw_time)
            self.hook_rates.append(self.size / hook_time)
            self.announce_rates.append(self.size / announce_time)
            self.hook_ratios.append(hook_time / raw_time)
            self.announce_ratios.append(announce_time / raw_time)

    def rows(self, hook_class: str, backend: str, baseline: str) -> list[dict[str, Any]]:
        raw_rate = median(self.raw_rates)
        return [
            _row("batch", f"{hook_class}.publish_many x{self.size}", baseline, median(self.hook_rates), raw_rate,
                 self.hook_ratios, "msg/s"),
            _row("batch", f"announce_many x{self.size} ({backend})", baseline, median(self.announce_rates), raw_rate,
                 self.announce_ratios, "msg/s"),
        ]  # fmt: skip


def bench_batch_redis(rounds: int, size: int) -> list[dict[str, Any]]:
    import redis

    from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
    from airflow_provider_hokusai.hooks.queue import get_queue_hook
    from airflow_provider_hokusai.queue.redis_client import close_shared_pools

    port = free_port()
    samples = _BatchSamples(size)
    with redis_server(port):
        os.environ["AIRFLOW_CONN_BENCH_REDIS"] = json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": port})
        hook = get_queue_hook("bench_redis")
        raw = redis.Redis(host="127.0.0.1", port=port)
        for r in range(-1, rounds):
            samples.keep = r >= 0  # round -1 warms up
            messages = _messages(size, (r + 1) * size * 2, "batch")
            bodies = [m.to_json() for m in messages]
            registry, refs = _registry_with("announce", (r + 1) * size, size)
            announcer = ModelReadyAnnouncer(registry, hook)

            def raw_batch(bodies: list[str] = bodies) -> None:
                pipe = raw.pipeline(transaction=False)
                for body in bodies:
                    pipe.lpush("bench:raw", body)
                pipe.execute()

            samples.time_round(raw_batch, partial(hook.publish_many, messages), partial(announcer.announce_many, refs))
        close_shared_pools()
        raw.close()
    return samples.rows("RedisQueueHook", "redis", "pipelined LPUSH")


def bench_batch_sqs(rounds: int, size: int) -> list[dict[str, Any]]:
    import boto3

    from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
    from airflow_provider_hokusai.hooks.base_queue import message_attributes
    from airflow_provider_hokusai.hooks.queue import get_queue_hook

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    samples = _BatchSamples(size)
    with moto_server(port):
        os.environ["AIRFLOW_CONN_BENCH_SQS"] = _aws_conn(endpoint)
        sqs = boto3.client("sqs", endpoint_url=endpoint, **AWS)
        for r in range(-1, rounds):
            samples.keep = r >= 0  # round -1 warms up
            # A fresh queue per side and round: moto slows down as a queue grows.
            urls = [sqs.create_queue(QueueName=f"bench-batch-{r + 1}-{side}")["QueueUrl"] for side in range(3)]
            messages = _messages(size, (r + 1) * size * 2, "batch")
            entries = [
                {
                    "MessageBody": m.to_json(),
                    "MessageAttributes": {
                        k: {"DataType": "String", "StringValue": v} for k, v in message_attributes(m).items()
                    },
                }
                for m in messages
            ]
            hook = get_queue_hook("bench_sqs", queue_name=urls[1])
            registry, refs = _registry_with("announce", (r + 1) * size, size)
            announcer = ModelReadyAnnouncer(registry, get_queue_hook("bench_sqs", queue_name=urls[2]))
            # Queue URLs resolved outside the timing, as raw's is.
            cast(Any, hook).queue_url, cast(Any, announcer.queue_hook).queue_url

            def raw_batch(url: str = urls[0], entries: list[dict[str, Any]] = entries) -> None:
                for start in range(0, len(entries), 10):
                    chunk = [{"Id": f"m{i}", **e} for i, e in enumerate(entries[start : start + 10])]
                    response = sqs.send_message_batch(QueueUrl=url, Entries=chunk)
                    assert not response.get("Failed")

            samples.time_round(raw_batch, partial(hook.publish_many, messages), partial(announcer.announce_many, refs))
    return samples.rows("SqsQueueHook", "sqs", "send_message_batch")


# DAG parse cost.

# The file's own Airflow imports run before the clock starts, as in a DAG processor, which has Airflow imported: what
# is timed is the file's own cost, not the ~2 s import of Airflow whose noise (tens of ms) would hide a 20 ms goal.
PARSE_PROBE = r"""
import importlib.util, json, sys, time
exec(sys.argv[2])
before = set(sys.modules)
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
print(json.dumps({"ms": elapsed * 1000, "modules": sorted(set(sys.modules) - before)}))
"""

#: A DAG using the operators and sensor may cost at most this much over an empty DAG with the same Airflow imports.
PARSE_GOAL_MS = 20

EMPTY_DAG = """
{imports}
from airflow.sdk import DAG

with DAG(dag_id="empty_baseline", schedule=None):
    pass
"""


def _airflow_imports(path: Path) -> str:
    # The same rule as tests/system/test_dag_integrity.py: the file's own top-level imports from airflow.
    lines = [
        line
        for line in path.read_text().splitlines()
        if line.startswith(("from airflow.", "import airflow")) and not line.startswith("from airflow_provider")
    ]
    # The empty DAG's own import, too: a file that imports no Airflow name itself still has Airflow loaded.
    return "\n".join(["from __future__ import annotations", *lines, "from airflow.sdk import DAG"])


def _probe(path: Path, airflow_imports: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(path), airflow_imports],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_parse(rounds: int, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for dag in sorted((REPO / "dags").glob("*.py")):
        empty = workdir / f"empty_{dag.name}"
        imports = _airflow_imports(dag)
        empty.write_text(EMPTY_DAG.format(imports=imports))
        dag_times, empty_times, ratios, differences = [], [], [], []
        added: set[str] = set()
        for _ in range(rounds):
            base = _probe(empty, imports)
            real = _probe(dag, imports)
            empty_times.append(base["ms"])
            dag_times.append(real["ms"])
            ratios.append(real["ms"] / base["ms"])
            differences.append(real["ms"] - base["ms"])
            added = {m.split(".")[0] for m in set(real["modules"]) - set(base["modules"])}
        row = _row("parse", f"dags/{dag.name}", "empty DAG, same imports", median(dag_times), median(empty_times),
                   ratios, "ms")  # fmt: skip
        # The median of the per-round differences: each pair ran back to back, under the same load.
        row["difference_ms"] = round(median(differences), 1)
        row["goal_difference_ms"] = PARSE_GOAL_MS
        row["heavy_modules_added"] = sorted(added & set(HEAVY))
        rows.append(row)
    return rows


def publish_rows(rounds: int) -> list[dict[str, Any]]:
    from bench import publish

    rows = []
    for result, call in ((publish.bench_redis(rounds, 300), "redis"), (publish.bench_sqs(rounds, 30), "sqs")):
        row = _row("publish", result["subject"], result["baseline"], result["hook_median_us"],
                   result["baseline_median_us"], [result["ratio"]], "µs/call")  # fmt: skip
        row.update(ratio_min=result["ratio_min"], ratio_max=result["ratio_max"], rounds=result["rounds"])
        row["goal"] = publish.GOALS[call]
        rows.append(row)
        signed, unsigned = result["signed_median_us"], result["hook_median_us"]
        signing = _row("signing", f"signed {result['subject']}", "unsigned publish, same run", signed, unsigned,
                       [result["signing_ratio"]], "µs/call")  # fmt: skip
        signing["signing_cost_us"] = result["signing_cost_us"]
        rows.append(signing)
    return rows


def triggerer_rows() -> list[dict[str, Any]]:
    """The triggerer capacity fleets (before and after batched looks), and the MLflow calls per look/announcement."""
    from bench import triggerer

    report = triggerer.bench_triggerer(list(triggerer.DEFAULT_NS), ["before", "after"], triggerer.DEFAULT_POLL_INTERVAL)
    return [*report["fleets"], {"benchmark": "calls", **report["calls"]}]


def render(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'bench':8} {'subject':48} {'baseline':26} {'ours':>10} {'raw':>10} {'unit':7} {'ratio':>6} {'range':>13}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        if r["benchmark"] in ("announce task", "registration -> message"):
            from bench import deployment

            lines.append(deployment.render([r]))
            continue
        if r["benchmark"] in ("triggerer", "calls"):
            from bench import triggerer

            lines.append(triggerer.render_fleet(r) if r["benchmark"] == "triggerer" else triggerer.render_calls(r))
            continue
        spread = f"{r['ratio_min']:.2f}-{r['ratio_max']:.2f}"
        extra = ""
        if r["benchmark"] == "parse":
            verdict = "met" if r["difference_ms"] <= r["goal_difference_ms"] else "missed"
            extra = (
                f"  {r['difference_ms']:+.0f} ms (goal <= +{r['goal_difference_ms']} ms: {verdict}), "
                f"heavy: {', '.join(r['heavy_modules_added']) or 'none'}"
            )
        if "goal" in r:
            extra = f"  goal {r['goal']}" if r["benchmark"] == "cli" else f"  goal <= {r['goal']}"
        if "signing_cost_us" in r:
            extra = f"  signing costs {r['signing_cost_us']:+.1f} µs per publish"
        lines.append(
            f"{r['benchmark']:8} {r['subject'][:48]:48} {r['baseline'][:26]:26} {r['ours']:>10.1f} {r['raw']:>10.1f} "
            f"{r['unit']:7} {r['ratio']:>6.2f} {spread:>13}{extra}"
        )
    return "\n".join(lines)


def collect(only: set[str], rounds: int, workdir: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The rows of the benchmarks in ``only``, and the UI benchmark's report if it ran."""
    rows: list[dict[str, Any]] = []
    if "publish" in only:
        rows += publish_rows(rounds)
    if "operator" in only:
        rows.append(bench_operator(rounds, 10, workdir))
    if "batch" in only:
        rows += bench_batch_redis(rounds, 1000)
        rows += bench_batch_sqs(rounds, 100)
    if "parse" in only:
        rows += bench_parse(rounds, workdir)
    if "cli" in only:
        from bench import cli

        rows += cli.bench_cli(rounds)
    if "triggerer" in only:
        rows += triggerer_rows()
    if "deployment" in only:
        from bench import deployment

        rows += deployment.bench_deployment(workdir, runs=10, registrations=20)
    ui_report = None
    if "ui" in only:
        from bench import ui

        ui_report = ui.bench_ui()
        rows += ui_report["rows"]
    return rows, ui_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="Alternating rounds per benchmark (median taken).")
    parser.add_argument("--only", action="append", choices=[*ALL])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"Report path (default {DEFAULT_JSON}).")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 30:
        parser.error("--rounds must be 1-30 (the benchmark stays bounded)")
    only = set(args.only or ALL)

    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    home = isolate_airflow_home()
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="hokusai-bench-") as tmp:
            rows, ui_report = collect(only, args.rounds, Path(tmp))
    finally:
        cleanup(home)
    report = {
        "benchmark": "bench.run",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "results": rows,
    }
    print(render([r for r in rows if r["benchmark"] != "ui"]))
    if ui_report is not None:
        from bench import ui

        print(ui.render(ui_report))
    print(f"({report['wall_seconds']} s; ratio = ours / raw in time, median of per-round ratios; report {args.json})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

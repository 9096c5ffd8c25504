"""
Announcing inside a real deployment: the task's cost against the official operator, and the webhook path's delay
against the deployment's own floor.

One deployment for both (``airflow api-server``, ``scheduler`` with the LocalExecutor, ``dag-processor`` and
``triggerer`` on a PostgreSQL database of the benchmark's own, a moto SQS server, an ``mlflow server`` with webhooks
to loopback allowed), the provider's DAGs loaded through the one-line DAG file of docs/installation.md:

* **announce task**: a ``PublishModelReadyOperator`` task announcing a validated version, against an official
  ``SqsPublishOperator`` task publishing the same body to the same queue, alternating, one run at a time; each task's
  ``duration`` as Airflow records it (start to end in the worker). Goal: ours at most 1.5 times theirs (medians).
* **registration → message**: a plain ``MlflowClient.create_model_version`` with the upstream tags, through MLflow's
  webhook, the receiver, the asset and ``hokusai_registry_events``, to the message's ``SentTimestamp`` on the queue;
  one registration at a time. The floor: an asset event posted to the REST API, to the end of a one-task DAG
  scheduled on that asset, in the same deployment. Goal: p50 within 3 s of the floor's p50.

``python -m bench.deployment [--runs 10] [--registrations 20]`` (also ``make bench ARGS="--only deployment"``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hokusai_testkit.airflow import AirflowDeployment
from hokusai_testkit.mlflow import (
    MLflowServer,
    create_run,
    registered_version,
    running_mlflow_server,
    unique,
    validated_tags,
)
from hokusai_testkit.ports import LOOPBACK
from hokusai_testkit.postgres import own_database
from hokusai_testkit.sqs import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, create_queues, start_moto

REPO = Path(__file__).resolve().parents[1]
EVENTS = "hokusai_registry_events"
OURS, OFFICIAL, FLOOR = "bench_announce_hokusai", "bench_announce_official", "bench_asset_floor"
FLOOR_ASSET = "bench_floor"
WEBHOOK_SECRET = "bench-webhook-secret-0c4f7a21"
TASK_RATIO_GOAL = 1.5
WEBHOOK_GOAL_SECONDS = 3.0

BENCH_DAGS = f'''
from airflow.providers.amazon.aws.operators.sqs import SqsPublishOperator
from airflow.sdk import DAG, Asset, task

from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator

with DAG(dag_id="{OURS}", schedule=None):
    PublishModelReadyOperator(
        task_id="announce",
        model_name="{{{{ dag_run.conf['model_name'] }}}}",
        model_version="{{{{ dag_run.conf['model_version'] }}}}",
        queue_conn_id="hokusai_queue",
    )

with DAG(dag_id="{OFFICIAL}", schedule=None):
    SqsPublishOperator(
        task_id="announce",
        sqs_queue="{{{{ dag_run.conf['queue_url'] }}}}",
        message_content="{{{{ dag_run.conf['body'] }}}}",
        aws_conn_id="bench_aws",
    )

with DAG(dag_id="{FLOOR}", schedule=[Asset("{FLOOR_ASSET}")]):

    @task
    def nothing() -> None:
        pass

    nothing()
'''


@dataclass
class Bench:
    airflow: AirflowDeployment
    mlflow: MLflowServer
    moto: MotoServer
    queue_url: str


def connections(mlflow: MLflowServer, moto: MotoServer, queue_url: str) -> dict[str, dict[str, Any]]:
    aws = {"conn_type": "aws", "login": ACCESS_KEY, "password": SECRET_KEY}
    sqs_extra = {"region_name": REGION, "endpoint_url": moto.endpoint}
    return {
        "mlflow_default": {"conn_type": "mlflow", "host": LOOPBACK, "port": mlflow.port},
        "hokusai_queue": {"conn_type": "hokusai_sqs", **aws, "extra": sqs_extra | {"queue": queue_url}},
        "bench_aws": aws | {"extra": sqs_extra},
        "hokusai_mlflow_webhook": {"conn_type": "generic", "password": WEBHOOK_SECRET},
    }


@contextlib.contextmanager
def deployment(root: Path) -> Iterator[Bench]:
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(own_database("hokusai_bench_deploy"))
        moto = stack.enter_context(start_moto())
        queue_url = create_queues(moto)[0]  # the standard queue: the official operator sends no group id
        webhooks = {
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
            "MLFLOW_WEBHOOK_CACHE_TTL": "1",
        }
        (root / "mlflow").mkdir()
        mlflow = stack.enter_context(running_mlflow_server(root / "mlflow", env=webhooks))
        dags = root / "dags"
        dags.mkdir()
        (dags / "hokusai_provider_dags.py").write_text((REPO / "dags" / "hokusai_provider_dags.py").read_text())
        (dags / "bench_dags.py").write_text(BENCH_DAGS)
        airflow = AirflowDeployment(home=root / "home", database_url=database.sqlalchemy_url, dags_folder=dags)
        airflow.home.mkdir()
        airflow.write_config()
        airflow.migrate()
        airflow.add_connections(connections(mlflow, moto, queue_url))
        stack.callback(airflow.stop)
        airflow.start()
        airflow.wait_healthy()
        airflow.wait_for_dags([OURS, OFFICIAL, FLOOR, EVENTS])
        for dag_id in (OURS, OFFICIAL, FLOOR, EVENTS):
            airflow.unpause(dag_id)
        yield Bench(airflow, mlflow, moto, queue_url)


def drain(bench: Bench, until: Callable[[dict[str, Any]], bool], timeout: float = 120.0) -> dict[str, Any]:
    """Receive (and delete) messages until one satisfies ``until``; that message, with its attributes."""
    client = bench.moto.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.receive_message(
            QueueUrl=bench.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["SentTimestamp"]
        )
        for message in answer.get("Messages", []):
            client.delete_message(QueueUrl=bench.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if until(message):
                return dict(message)
    raise TimeoutError(f"no matching message within {timeout}s")


def announcing(model_name: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a received message announces a version of ``model_name``."""
    return lambda message: json.loads(message["Body"]).get("model_name") == model_name


def validated_version(bench: Bench) -> tuple[str, str]:
    name, version, _ = registered_version(bench.mlflow.url, validated_tags(), "bench-announce")
    return name, version


def task_seconds(bench: Bench, dag_id: str, conf: dict[str, Any]) -> float:
    run_id = bench.airflow.trigger(dag_id, conf)
    bench.airflow.wait_run(dag_id, run_id)
    return float(bench.airflow.task_instance(dag_id, run_id, "announce")["duration"])


def bench_announce_task(bench: Bench, runs: int) -> dict[str, Any]:
    ours, official = [], []
    for _ in range(runs):
        name, version = validated_version(bench)
        ours.append(task_seconds(bench, OURS, {"model_name": name, "model_version": version}))
        body = str(drain(bench, announcing(name))["Body"])
        official.append(task_seconds(bench, OFFICIAL, {"queue_url": bench.queue_url, "body": body}))
        drain(bench, announcing(name))
    ratio = statistics.median(ours) / statistics.median(official)
    return {
        "benchmark": "announce task",
        "runs": runs,
        "ours_seconds": summary(ours),
        "official_seconds": summary(official),
        "ratio": round(ratio, 2),
        "goal": f"<= {TASK_RATIO_GOAL}",
        "met": ratio <= TASK_RATIO_GOAL,
    }


def setup_webhook(bench: Bench) -> None:
    hokusai_webhook = Path(sys.executable).parent / "hokusai-webhook"
    subprocess.run(
        [str(hokusai_webhook), "setup", "--api-url", bench.airflow.url],
        env=bench.airflow.env(),
        cwd=bench.airflow.home,
        check=True,
        capture_output=True,
        timeout=180,
    )


def registration_delay(bench: Bench) -> float:
    from mlflow import MlflowClient

    from airflow_provider_hokusai.registry import tags as t

    client = MlflowClient(tracking_uri=bench.mlflow.url, registry_uri=bench.mlflow.url)
    run_id = create_run(bench.mlflow.url, unique("bench-upstream-exp"), metrics={"accuracy": 0.93})
    name = unique("bench-upstream")
    client.create_registered_model(name)
    upstream = {t.TOKEN_ID: "HKI", t.BENCHMARK_METRIC: "accuracy", t.BENCHMARK_VALUE: "0.9"}
    began = time.time()
    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=upstream)
    message = drain(bench, announcing(name))
    return int(message["Attributes"]["SentTimestamp"]) / 1000 - began


def floor_delay(bench: Bench) -> float:
    assets = bench.airflow.api("GET", "/api/v2/assets", params={"name_pattern": FLOOR_ASSET}).json()["assets"]
    before = {r["dag_run_id"] for r in bench.airflow.api("GET", f"/api/v2/dags/{FLOOR}/dagRuns").json()["dag_runs"]}
    began = time.time()
    posted = bench.airflow.api("POST", "/api/v2/assets/events", json={"asset_id": assets[0]["id"]})
    assert posted.status_code == 200, posted.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = bench.airflow.api("GET", f"/api/v2/dags/{FLOOR}/dagRuns").json()["dag_runs"]
        new = [r for r in runs if r["dag_run_id"] not in before and r["state"] in ("success", "failed")]
        if new:
            ended = bench.airflow.task_instance(FLOOR, new[0]["dag_run_id"], "nothing")["end_date"]
            return datetime.fromisoformat(ended).timestamp() - began
        time.sleep(0.2)
    raise TimeoutError("the floor DAG did not run within 120 s")


def bench_webhook(bench: Bench, registrations: int) -> dict[str, Any]:
    setup_webhook(bench)
    time.sleep(2)  # past the server's webhook cache (TTL 1 s)
    ours, floor = [], []
    for _ in range(registrations):
        ours.append(registration_delay(bench))
        floor.append(floor_delay(bench))
    gap = statistics.median(ours) - statistics.median(floor)
    return {
        "benchmark": "registration -> message",
        "registrations": registrations,
        "webhook_seconds": summary(ours),
        "floor_seconds": summary(floor),
        "p50_gap_seconds": round(gap, 2),
        "goal": f"p50 gap <= {WEBHOOK_GOAL_SECONDS} s",
        "met": gap <= WEBHOOK_GOAL_SECONDS,
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2), "max": round(ordered[-1], 2)}


def render(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        verdict = "met" if row["met"] else "missed"
        if row["benchmark"] == "announce task":
            ours, official = row["ours_seconds"], row["official_seconds"]
            lines.append(
                f"announce task ({row['runs']} runs each): PublishModelReadyOperator p50 {ours['p50']} s "
                f"p95 {ours['p95']} s; SqsPublishOperator p50 {official['p50']} s p95 {official['p95']} s; "
                f"ratio {row['ratio']} (goal {row['goal']}: {verdict})"
            )
        else:
            ours, floor = row["webhook_seconds"], row["floor_seconds"]
            lines.append(
                f"registration -> message ({row['registrations']}): p50 {ours['p50']} s p95 {ours['p95']} s; "
                f"floor (asset event -> task end) p50 {floor['p50']} s p95 {floor['p95']} s; "
                f"p50 gap {row['p50_gap_seconds']} s (goal {row['goal']}: {verdict})"
            )
    return "\n".join(lines)


def bench_deployment(root: Path, runs: int, registrations: int) -> list[dict[str, Any]]:
    """Both measurements in one deployment under ``root``."""
    with deployment(root) as bench:
        return [bench_announce_task(bench, runs), bench_webhook(bench, registrations)]


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m bench.deployment", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="Runs of each announce task (default 10).")
    parser.add_argument("--registrations", type=int, default=20, help="Webhook registrations (default 20).")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hokusai-bench-deploy-") as tmp:
        rows = bench_deployment(Path(tmp), args.runs, args.registrations)
    print(render(rows))
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

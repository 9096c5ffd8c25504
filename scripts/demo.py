"""``make demo``: run the Hokusai release pipeline end to end on embedded defaults.

* Airflow: a sqlite metadata database under ``.demo/airflow``;
* MLflow: an embedded sqlite tracking/registry store under ``.demo/mlflow``;
* queue: an SQS-compatible endpoint (moto server on loopback) with a FIFO queue, started for the demo;
  set ``HOKUSAI_DEMO_REDIS_URL=redis://127.0.0.1:6379/0`` to publish to a Redis you run instead.

It trains a real model, validates it against its baseline, registers it, announces it, then pops the message the
way Hokusai's token deployer would and tells where it went, what it says (also in ``.demo/last_message.json``), the
receipt written on the model version, and how to open the MLflow UI on the demo's store. A second run of the
announcement for the same version publishes nothing new, which the demo shows too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from hokusai_testkit.sqs import MotoServer, start_moto

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / ".demo"
FIFO_QUEUE = "hokusai-model-ready.fifo"
# The demo's own list, so that it never pops (or clears) a real deployment's queue on a shared Redis.
REDIS_LIST = "hokusai:demo:model_ready_queue"
LAST_MESSAGE = DEMO / "last_message.json"


def _configure_environment(queue_conn: dict[str, Any], mlflow_dir: Path) -> None:
    # Airflow reads its configuration when first imported, so everything is set before any airflow import.
    airflow_home = DEMO / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # The demo prints its own summary; task logs at INFO would bury it (HOKUSAI_DEMO_LOG_LEVEL=INFO shows them).
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("HOKUSAI_DEMO_LOG_LEVEL", "WARNING"),
            # dag.test() runs are never queued, so the DAG's deadline (relative to the queued time) cannot apply and
            # Airflow says so for every run; a scheduled run has it. MLflow's store migrations log at INFO.
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "airflow.serialization.definitions.dag=ERROR",
            "MLFLOW_LOGGING_LEVEL": "WARNING",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
                {
                    "conn_type": "mlflow",
                    "extra": {
                        "tracking_uri": f"sqlite:///{mlflow_dir / 'mlflow.db'}",
                        "artifact_location": str(mlflow_dir / "artifacts"),
                    },
                }
            ),
            "AIRFLOW_CONN_HOKUSAI_QUEUE": json.dumps(queue_conn),
        }
    )


def _start_sqs() -> tuple[MotoServer, dict[str, Any]]:
    """A moto server on a free loopback port with the demo's FIFO queue; returns it and its ``aws`` connection."""
    moto = start_moto()
    try:
        moto.client().create_queue(QueueName=FIFO_QUEUE, Attributes={"FifoQueue": "true"})
    except Exception:
        moto.stop()
        raise
    return moto, moto.conn()


def _pop_sqs(conn: dict[str, Any]) -> list[str]:
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=conn["extra"]["endpoint_url"],
        region_name=conn["extra"]["region_name"],
        aws_access_key_id=conn["login"],
        aws_secret_access_key=conn["password"],
    )
    url = sqs.get_queue_url(QueueName=FIFO_QUEUE)["QueueUrl"]
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        if not got.get("Messages"):
            return bodies
        for message in got["Messages"]:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _reset_redis(url: str) -> None:
    """Forget earlier demo runs: their list and dedup markers (each run starts a fresh MLflow, so version 1 again)."""
    import redis

    from airflow_provider_hokusai.hooks.redis import hash_tag

    client = redis.Redis.from_url(url)
    client.delete(REDIS_LIST, *client.scan_iter(match=f"{hash_tag(REDIS_LIST)}:*", count=1000))


def _pop_redis(url: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    bodies = []
    while (body := client.rpop(REDIS_LIST)) is not None:
        bodies.append(str(body))
    return bodies


def _quiet_foreign_warnings() -> None:
    """
    Silence, for this process only, the two deprecation warnings of libraries a demo user cannot act on: Airflow's
    DAG-folder ignore rules still name pathspec's ``gitwildmatch`` style, and ``dag.test()`` drives Airflow's
    execution API through Starlette's test client on httpx. Both are Airflow's to change, not the user's.
    Installed after Airflow's configuration module, whose own filters (set on import) would otherwise come first.
    """
    import airflow.configuration  # noqa: F401

    warnings.filterwarnings("ignore", message=r"GitWildMatchPattern \('gitwildmatch'\) is deprecated")
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")


def _describe_queue(queue_conn: dict[str, Any], queue_name: str, redis_url: str | None) -> str:
    if redis_url:
        return f"Redis list {queue_name} on {queue_conn['host']}:{queue_conn['port']} (db {queue_conn['extra']['db']})"
    return f"SQS FIFO queue {queue_name} on the demo's moto endpoint {queue_conn['extra']['endpoint_url']}"


def _print_receipt(model_name: str, model_version: str) -> None:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.registry import tags as t

    tags = dict(MLflowHook().get_model_version(model_name, model_version).tags or {})
    receipt = sorted(k for k in tags if k.startswith("hokusai_announce"))
    evidence = sorted(k for k in tags if k.startswith("hokusai_") and k not in receipt)
    print(f"==> Tags on MLflow model version {model_name} v{model_version}")
    print("    the evidence, written at registration:")
    for key in evidence:
        print(f"      {key} = {tags[key]}")
    print(f"    the announcement's receipt ({t.ANNOUNCEMENT_STATUS} = {tags.get(t.ANNOUNCEMENT_STATUS)}):")
    for key in receipt:
        print(f"      {key} = {tags[key]}")


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    mlflow_dir = DEMO / "mlflow"
    mlflow_dir.mkdir(parents=True)
    redis_url = os.environ.get("HOKUSAI_DEMO_REDIS_URL")
    moto: MotoServer | None = None
    if redis_url:
        queue_conn: dict[str, Any] = {"conn_type": "redis", **_redis_conn_fields(redis_url)}
        queue_name = REDIS_LIST
    else:
        moto, queue_conn = _start_sqs()
        queue_name = FIFO_QUEUE
    try:
        _configure_environment(queue_conn, mlflow_dir)
        print("==> Preparing Airflow's sqlite metadata database", flush=True)
        subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, stdout=subprocess.DEVNULL
        )
        if redis_url:
            _reset_redis(redis_url)
        from scripts.dagrun import run_dag_test

        _quiet_foreign_warnings()
        conf = {"queue_name": queue_name}
        print("==> Running hokusai_model_release: train → validate → register → announce", flush=True)
        print(f"    announcing on the {_describe_queue(queue_conn, queue_name, redis_url)}")
        result = run_dag_test("hokusai_model_release.py", run_conf=conf)
        print(f"    task states: {result.states}")
        if not result.succeeded:
            print("The release pipeline failed; see the task logs above.", file=sys.stderr)
            return 1
        print("==> Releasing the same MLflow run again (must reuse the version and publish nothing new)", flush=True)
        again = run_dag_test("hokusai_model_release.py", run_conf={**conf, "candidate_run_id": result.returns["train"]})
        print(f"    second run: task states {again.states}")
        print(f"    second run: announce → {again.returns.get('announce', {}).get('outcome')}")

        where = _describe_queue(queue_conn, queue_name, redis_url)
        bodies = _pop_redis(redis_url) if redis_url else _pop_sqs(queue_conn)
        from airflow_provider_hokusai.messages import ModelReadyToDeployMessage

        print(f"==> {len(bodies)} message(s) on the {where}, popped as the token deployer would:")
        for body in bodies:
            print(body)
            message = ModelReadyToDeployMessage.from_json(body)
            print(f"    valid model_ready_to_deploy {message.message_version}, message id {message.message_id}")
        if bodies:
            LAST_MESSAGE.write_text(json.dumps(json.loads(bodies[-1]), indent=2, sort_keys=True) + "\n")
            print(f"    kept in {LAST_MESSAGE.relative_to(REPO)}")
        register = result.returns.get("register", {})
        if register.get("model_name"):
            _print_receipt(str(register["model_name"]), str(register["model_version"]))
        store = f"sqlite:///{mlflow_dir / 'mlflow.db'}"
        print("==> In MLflow:")
        print(
            f"    registered model {register.get('model_name')} version {register.get('model_version')}, store {store}"
        )
        print(
            f"    browse it: .venv/bin/mlflow ui --backend-store-uri {store} --port 5001  (then http://127.0.0.1:5001)"
        )
        if redis_url:
            fields = _redis_conn_fields(redis_url)
            look = (
                f"redis-cli -h {fields['host']} -p {fields['port']} -n {fields['extra']['db']} LRANGE {REDIS_LIST} 0 -1"
            )
            print(f"==> Look at the list: {look}")
        else:
            print("==> The moto SQS endpoint stops with the demo; the message it carried is in .demo/last_message.json")
        # Two runs of the pipeline for one version: exactly one announcement on the queue.
        return 0 if len(bodies) == 1 else 1
    finally:
        if moto is not None:
            moto.stop()


def _redis_conn_fields(url: str) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    fields: dict[str, Any] = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 6379}
    if parts.password:
        fields["password"] = parts.password
    db = parts.path.lstrip("/")
    fields["extra"] = {"db": int(db) if db.isdigit() else 0}
    return fields


if __name__ == "__main__":
    sys.exit(main())

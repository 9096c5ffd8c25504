"""
Hokusai token deployment: the consumer side of ``model_ready_to_deploy``, as a user would build it.

An event-driven DAG: its schedule is an Asset watched by ``MessageQueueTrigger`` on the SQS queue the release
pipeline publishes to. Each batch of received messages is verified (when the ``hokusai_sqs`` connection lists
signing keys in its extra ``signing_conn_ids``: a forged or unsigned message is rejected on its own, the others go
on; see docs/signing.md), validated against the contract, deduplicated per
``model_id`` (only the newest version not yet deployed), and handed to a simulated deployment step that logs
what a real deployer would do. That logic is in ``hokusai_examples/consumer.py`` beside this file (Airflow puts
the DAGs folder on ``sys.path``).

The deployed record (Variable ``hokusai_deployed_versions``) only moves forward: runs are serialized
(``max_active_runs=1``), ``deploy`` skips a planned version that is no longer newer than the record, and it writes
the record merged with a fresh read (per model, the newer version wins), as Variables have no compare-and-set.
Versions compare with ``hokusai_examples.consumer.version_key``, a total order on every contract-valid string.

Airflow builds the trigger when it parses this file, so the queue URL comes from the deployment's environment
(``HOKUSAI_MODEL_READY_SQS_QUEUE_URL``) and the AWS connection is ``hokusai_sqs``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import DAG, Asset, AssetWatcher, task

SQS_CONN_ID = "hokusai_sqs"
# Without the variable the watcher points at a local SQS emulator, never at a real AWS account by accident.
QUEUE_URL = os.environ.get(
    "HOKUSAI_MODEL_READY_SQS_QUEUE_URL", "http://127.0.0.1:5000/123456789012/hokusai-model-ready.fifo"
)
DEPLOYED_VARIABLE = "hokusai_deployed_versions"

model_ready = Asset(
    "hokusai_model_ready_to_deploy",
    watchers=[
        AssetWatcher(
            name="hokusai_model_ready_sqs",
            trigger=MessageQueueTrigger(scheme="sqs", sqs_queue=QUEUE_URL, aws_conn_id=SQS_CONN_ID, waiter_delay=10),
        )
    ],
)

with DAG(
    dag_id="hokusai_token_deployment",
    description="Deploy tokens for models announced as model_ready_to_deploy.",
    schedule=[model_ready],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # One run at a time: a run plans on the deployed record and writes it at the end; overlapping runs could
    # otherwise interleave their reads and writes (see deploy, which also re-reads and merges).
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=5),
    },
    tags=["hokusai", "consumer"],
    doc_md=__doc__,
) as dag:

    @task
    def plan(triggering_asset_events: Any = None) -> dict[str, Any]:
        """Verify and validate the received messages and keep one new version per model_id."""
        from airflow.sdk import Variable

        from airflow_provider_hokusai.queue.signer import queue_verification_keys
        from hokusai_examples.consumer import bodies_from_asset_events, load_deployed, plan_deployments

        events = [e for batch in (triggering_asset_events or {}).values() for e in batch]
        deployed = load_deployed(Variable.get(DEPLOYED_VARIABLE, default=None))
        # The keys the producers sign with, listed on the queue connection; none listed: the queue is unsigned.
        keys, required = queue_verification_keys(SQS_CONN_ID)
        bodies = bodies_from_asset_events(events)
        return plan_deployments(bodies, deployed, keys=keys, require_signature=required).to_dict()

    @task
    def deploy(deployment_plan: dict[str, Any]) -> list[dict[str, str]]:
        """Simulated deployment: log what the token deployer would do and remember what was deployed."""
        import json
        import logging

        from airflow.sdk import Variable

        from hokusai_examples.consumer import apply_deployments, load_deployed, merge_deployed

        log = logging.getLogger(__name__)
        for rejected in deployment_plan["rejected"]:
            log.warning("Rejected message: %s", rejected["reason"])
        # The record as it is now, not as plan read it: a version another run deployed since is not undone.
        done, record = apply_deployments(deployment_plan, load_deployed(Variable.get(DEPLOYED_VARIABLE, default=None)))
        deploying = {(d["model_id"], d["model_version"]) for d in done}
        for message in deployment_plan["deploy"]:
            if (message["model_id"], message["model_version"]) not in deploying:
                log.info(
                    "Skipping %s v%s: a newer version was deployed since", message["model_id"], message["model_version"]
                )
                continue
            log.info(
                "Deploying token %s for %s v%s (%s %+.2f%% vs baseline)",
                message["token_symbol"],
                message["model_id"],
                message["model_version"],
                message["metric_name"],
                message["improvement_percentage"],
            )
        # Variables have no compare-and-set: read again right before writing and keep each model's newer version.
        stored = load_deployed(Variable.get(DEPLOYED_VARIABLE, default=None))
        Variable.set(DEPLOYED_VARIABLE, json.dumps(merge_deployed(stored, record)))
        return done

    deploy(plan())

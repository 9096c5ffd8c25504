"""
Loss after receipt (issue 11, item 7), end to end on real servers, and the runbook's replay as written.

A real ``redis-server --appendonly no`` acknowledges an announcement made through ``hokusai-reconcile``, then
restarts: the message is gone while the registry (a real ``mlflow server``) holds the receipt, and reconciliation
finds nothing. The queue's status warned about it beforehand. Then the runbook's step 2 script, extracted from
docs/runbook.md and run as written, makes the version pending again, and ``hokusai-reconcile`` replays it with the
same message id.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hokusai.cli.reconcile import main
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, message_id_for
from airflow_provider_hokusai.queue.redis_client import close_shared_pools
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from tests.fixtures.mlflow import MLflowServer, registered_version, validated_tags
from tests.fixtures.redis import RedisProcess

pytestmark = pytest.mark.integration

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
QUEUE = "hokusai:model_ready_queue"


def runbook_replay_script() -> str:
    (script,) = re.findall(r"python - <<'PY'\n(.*?)\n\s*PY\n", RUNBOOK.read_text(), re.DOTALL)
    return textwrap.dedent(script)


def reconcile_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["--queue-conn-id", "hokusai_queue", *args])
    close_shared_pools()
    return code, json.loads(capsys.readouterr().out)


def test_lost_after_receipt_is_warned_about_and_replayed_by_the_runbook(
    mlflow_conn: MLflowServer,
    redis_process_factory: Callable[..., RedisProcess],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    redis = redis_process_factory()  # --appendonly no --save ""
    monkeypatch.setenv("AIRFLOW_CONN_HOKUSAI_QUEUE", redis.conn_json())
    name, version, _ = registered_version(mlflow_conn.url, validated_tags(**{t.TOKEN_ID: "HKRPL"}), "hokusai-lost")
    expected_id = message_id_for(name, version)

    code, summary = reconcile_cli(capsys, "--model", name)
    assert (code, summary["published"]) == (0, 1), summary
    assert redis.client().llen(QUEUE) == 1
    # The health endpoint's source: the loss that is about to happen is visible before it happens.
    warning = get_queue_hook("hokusai_queue").queue_status().warning
    close_shared_pools()
    assert warning is not None and "appendonly no" in warning

    redis.restart()
    assert redis.client().llen(QUEUE) == 0  # lost: acknowledged, receipt written, message gone
    receipt_tags = MLflowHook().get_model_version(name, version).tags
    assert receipt_from_tags(receipt_tags)["message_id"] == expected_id
    code, summary = reconcile_cli(capsys, "--model", name, "--dry-run")
    assert (code, summary["found"]) == (0, 0), summary  # reconciliation alone does not see it

    # Runbook step 2, as written.
    env = {**os.environ, "MODEL": name, "VERSION": version, "MLFLOW_CONN_ID": "mlflow_default"}
    done = subprocess.run(
        [sys.executable, "-c", runbook_replay_script()],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pending = MLflowHook().get_model_version(name, version).tags
    assert pending[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PENDING
    assert expected_id in pending[t.ANNOUNCEMENT_ERROR]
    assert receipt_from_tags(pending) is None

    # Runbook step 3.
    code, summary = reconcile_cli(capsys, "--model", name, "--dry-run")
    assert summary["would_publish"] == [{"model_name": name, "model_version": version}], summary
    code, summary = reconcile_cli(capsys, "--model", name)
    assert (code, summary["published"]) == (0, 1), summary

    (body,) = redis.client().lrange(QUEUE, 0, -1)
    assert ModelReadyToDeployMessage.from_json(body).message_id == expected_id
    replayed = MLflowHook().get_model_version(name, version).tags
    assert replayed[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert receipt_from_tags(replayed)["message_id"] == expected_id

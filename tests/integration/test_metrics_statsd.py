"""
The provider's metrics reach a real StatsD listener when Airflow's StatsD metrics are on.

Each test sets ``[metrics] statsd_on`` (and host, port, prefix) through ``AIRFLOW__METRICS__*``, re-initializes
Airflow's ``Stats`` exactly as a task process does at start (see ``tests/fixtures/statsd.py``), drives the real
code path against real servers (redis-server, mlflow server), and reads the UDP datagrams on a loopback socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG

from airflow_provider_hokusai.exceptions import BaselineNotMetError, QueuePublishError
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.notifications import HokusaiFailureNotifier, hokusai_deadline_missed
from airflow_provider_hokusai.operators.model_ready import ReconcileAnnouncementsOperator
from airflow_provider_hokusai.queue.retry import RetryPolicy
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor
from airflow_provider_hokusai.utils import metrics
from tests.fixtures.mlflow import LoggedCandidate, MLflowServer, create_run, minimal_context, unique
from tests.fixtures.redis import RedisProcess
from tests.fixtures.statsd import StatsdListener, initialize_stats
from tests.integration.hooks.test_queue_contract import make_message
from tests.integration.operators.test_mlflow_register import register

pytestmark = pytest.mark.integration


def test_publish_published_duplicate_and_duration(statsd_listener: StatsdListener, redis_queue_conn: str) -> None:
    hook = get_queue_hook(redis_queue_conn)
    message = make_message()

    assert hook.publish(message).duplicate is False
    assert hook.publish(message).duplicate is True

    statsd_listener.wait_for(metrics.QUEUE_PUBLISHED, metrics.QUEUE_DUPLICATE, metrics.QUEUE_PUBLISH_DURATION)
    assert [(p.value, p.kind) for p in statsd_listener.named(metrics.QUEUE_PUBLISHED)] == [("1", "c")]
    assert [(p.value, p.kind) for p in statsd_listener.named(metrics.QUEUE_DUPLICATE)] == [("1", "c")]
    durations = statsd_listener.named(metrics.QUEUE_PUBLISH_DURATION)
    assert [p.kind for p in durations] == ["ms", "ms"]
    assert all(float(p.value) > 0 for p in durations)
    assert not statsd_listener.named(metrics.QUEUE_FAILED)


def test_publish_to_a_stopped_server_counts_retries_and_the_failure(
    statsd_listener: StatsdListener,
    monkeypatch: pytest.MonkeyPatch,
    redis_process_factory: Callable[..., RedisProcess],
) -> None:
    server = redis_process_factory()
    monkeypatch.setenv("AIRFLOW_CONN_STOPPED_REDIS", server.conn_json(socket_connect_timeout=1))
    server.stop()

    with pytest.raises(QueuePublishError):
        get_queue_hook("stopped_redis", retry=RetryPolicy(attempts=3, backoff_base=0.0, backoff_cap=0.0)).publish(
            make_message()
        )

    statsd_listener.wait_for(metrics.QUEUE_RETRIED, metrics.QUEUE_FAILED)
    # One publish, two retries inside redis-py: counted once, by two.
    assert [p.value for p in statsd_listener.named(metrics.QUEUE_RETRIED)] == ["2"]
    assert [(p.value, p.kind) for p in statsd_listener.named(metrics.QUEUE_FAILED)] == [("1", "c")]
    assert not statsd_listener.named(metrics.QUEUE_PUBLISHED)


def test_reconciliation_counts_found_published_failed(
    statsd_listener: StatsdListener,
    redis_queue_conn: str,
    mlflow_conn: MLflowServer,
    server_logged_model: LoggedCandidate,
) -> None:
    name = unique("metrics-reconcile")
    register(name, server_logged_model)  # validated and tagged, but never announced
    reconcile = ReconcileAnnouncementsOperator(
        task_id="reconcile", queue_conn_id=redis_queue_conn, registered_model_name=name
    )

    summary = reconcile.execute(minimal_context())  # type: ignore[arg-type]

    assert (summary["found"], summary["published"], summary["failed"]) == (1, 1, [])
    statsd_listener.wait_for(
        metrics.RECONCILE_FOUND, metrics.RECONCILE_PUBLISHED, metrics.RECONCILE_FAILED, metrics.QUEUE_PUBLISHED
    )
    assert [p.value for p in statsd_listener.named(metrics.RECONCILE_FOUND)] == ["1"]
    assert [p.value for p in statsd_listener.named(metrics.RECONCILE_PUBLISHED)] == ["1"]
    assert [p.value for p in statsd_listener.named(metrics.RECONCILE_FAILED)] == ["0"]
    assert not statsd_listener.named(metrics.RECONCILE_TRUNCATED)


def test_reconciliation_counts_a_run_stopped_by_its_bound(
    statsd_listener: StatsdListener,
    redis_queue_conn: str,
    mlflow_conn: MLflowServer,
    server_logged_model: LoggedCandidate,
) -> None:
    names = [unique("metrics-bounded") for _ in range(2)]
    for name in names:
        register(name, server_logged_model)  # validated and tagged, but never announced
    reconcile = ReconcileAnnouncementsOperator(task_id="reconcile", queue_conn_id=redis_queue_conn, max_versions=1)

    summary = reconcile.execute(minimal_context())  # type: ignore[arg-type]

    assert (summary["found"], summary["truncated"]) == (1, True)
    statsd_listener.wait_for(metrics.RECONCILE_TRUNCATED)
    assert [p.value for p in statsd_listener.named(metrics.RECONCILE_TRUNCATED)] == ["1"]


def test_sensor_decisions_poke_and_deferred(statsd_listener: StatsdListener, mlflow_conn: MLflowServer) -> None:
    experiment = unique("metrics-gate")
    good = create_run(mlflow_conn.url, experiment, metrics={"accuracy": 0.93})
    bad = create_run(mlflow_conn.url, experiment, metrics={"accuracy": 0.85})
    with DAG("metrics_release", schedule=None):
        passing = MLflowBaselineSensor(task_id="gate", run_id=good, metric_name="accuracy", baseline_value=0.9)
        failing = MLflowBaselineSensor(task_id="gate_bad", run_id=bad, metric_name="accuracy", baseline_value=0.9)
        deferred = MLflowBaselineSensor(
            task_id="gate_deferred", run_id=good, metric_name="accuracy", baseline_value=0.9, deferrable=True
        )

    passing.execute(minimal_context())
    with pytest.raises(BaselineNotMetError):
        failing.execute(minimal_context())
    # The event the trigger yields once it sees the run below the baseline.
    with pytest.raises(BaselineNotMetError):
        deferred.execute_complete(
            minimal_context(),  # type: ignore[arg-type]
            {"status": "failed", "reason": "accuracy=0.85 does not beat 0.9", "error": "baseline_not_met"},
        )

    statsd_listener.wait_for(metrics.BASELINE_PASSED, metrics.BASELINE_FAILED)
    assert [(p.value, p.kind) for p in statsd_listener.named(metrics.BASELINE_PASSED)] == [("1", "c")]
    assert [(p.value, p.kind) for p in statsd_listener.named(metrics.BASELINE_FAILED)] == [("1", "c"), ("1", "c")]


def test_task_failure_and_missed_deadline(statsd_listener: StatsdListener) -> None:
    ti = SimpleNamespace(dag_id="hokusai_model_release", task_id="publish_model_ready", try_number=1)
    HokusaiFailureNotifier().notify({"ti": ti, "exception": RuntimeError("broker down")})  # type: ignore[arg-type]
    asyncio.run(hokusai_deadline_missed(dag_id="hokusai_model_release", deadline_description="within 2h"))

    statsd_listener.wait_for(metrics.TASK_FAILED, metrics.DEADLINE_MISSED)


def test_tags_travel_in_the_name_with_influxdb_tagging(
    statsd_listener: StatsdListener,
    monkeypatch: pytest.MonkeyPatch,
    redis_queue_conn: str,
    mlflow_conn: MLflowServer,
) -> None:
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED", "True")
    # The default list name "hokusai:model_ready_queue" holds ':', which Airflow refuses in an InfluxDB-tagged name
    # (it would drop the whole metric); the hooks send it as "hokusai_model_ready_queue".
    initialize_stats(monkeypatch)
    run_id = create_run(mlflow_conn.url, unique("metrics-tags"), metrics={"accuracy": 0.93})
    with DAG("metrics_tags", schedule=None):
        gate = MLflowBaselineSensor(task_id="gate", run_id=run_id, metric_name="accuracy", baseline_value=0.9)

    get_queue_hook(redis_queue_conn).publish(make_message())
    gate.execute(minimal_context())

    statsd_listener.wait_for(metrics.QUEUE_PUBLISHED, metrics.BASELINE_PASSED)
    assert [p.tags for p in statsd_listener.named(metrics.QUEUE_PUBLISHED)] == [
        {"backend": "redis", "queue": "hokusai_model_ready_queue"}
    ]
    assert [p.tags for p in statsd_listener.named(metrics.BASELINE_PASSED)] == [
        {"metric": "accuracy", "dag_id": "metrics_tags", "task_id": "gate"}
    ]


def test_every_provider_metric_is_exercised_here() -> None:
    """A new name in metrics.ALL_METRICS needs a test above that proves it reaches StatsD."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    exercised = {getattr(metrics, attr) for attr in dir(metrics) if f"metrics.{attr}" in source}
    assert set(metrics.ALL_METRICS) <= exercised

"""
The short run of ``bench.reliability`` that ``make test`` includes: the same code as ``make reliability-full``,
with small N and a few chaos cycles (real redis-server killed with SIGKILL, moto SQS cut off by a proxy).
"""

from __future__ import annotations

import pytest

from bench.reliability import BackendResult, Settings, run

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

CONN_VARS = ("AIRFLOW_CONN_HOKUSAI_RELIABILITY_REDIS", "AIRFLOW_CONN_HOKUSAI_RELIABILITY_SQS")


@pytest.fixture(autouse=True)
def _restore_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    # The harness sets its connections in the environment; monkeypatch puts the previous state back afterwards.
    for name in CONN_VARS:
        monkeypatch.setenv(name, "")


def by_backend(results: list[BackendResult]) -> dict[str, BackendResult]:
    return {r.backend: r for r in results}


def test_short_run_loses_nothing_and_duplicates_nothing_under_chaos() -> None:
    settings = Settings(
        redis_versions=200,
        sqs_versions=30,
        redis_seconds=5.0,
        sqs_seconds=6.0,
        workers=6,
        redis_up=(0.3, 0.8),
        redis_down=(0.1, 0.4),
        sqs_up=(0.5, 1.2),
        sqs_down=(0.2, 0.6),
        max_seconds=150.0,
    )
    results = by_backend(run(settings))

    assert set(results) == {"redis", "sqs-fifo", "sqs-standard"}
    for backend, result in results.items():
        assert result.chaos_error is None, backend
        assert result.chaos_cycles >= 2, f"{backend}: the broker was not taken down often enough to prove anything"
        assert result.finished, backend
        assert result.lost == 0, f"{backend}: lost {result.lost}"
        assert result.delivered_unique == result.versions, backend
        assert result.without_receipt == 0 and result.receipt_mismatch == 0, backend
        assert result.unknown_messages == 0 and result.invalid_messages == 0, backend
        assert not result.unexpected_errors, f"{backend}: {result.unexpected_errors}"
        assert result.ok, backend
    # Redis and FIFO SQS promise deduplication; standard SQS may repeat, and each repeat carries its message id.
    assert results["redis"].duplicates == 0
    assert results["sqs-fifo"].duplicates == 0
    assert results["sqs-standard"].duplicates_allowed
    # Under chaos some publishes must have needed more than one try, or the faults never hit the publish path.
    for backend, result in results.items():
        assert result.task_retries > 0 or result.broker_attempts > result.versions, backend


def test_the_harness_sees_loss_when_the_broker_forgets() -> None:
    # Without AOF a kill -9 empties Redis: the run must report the loss and fail, or its zeros mean nothing.
    settings = Settings(
        redis_versions=60,
        redis_seconds=1.0,
        redis_up=(5.0, 5.0),
        redis_down=(0.1, 0.1),
        redis_durability="none",
        backends=("redis",),
        max_seconds=60.0,
    )
    (result,) = run(settings)

    assert result.lost == 60
    assert result.delivered_unique == 0
    assert result.without_receipt == 0  # every task got its receipt: the broker, not the provider, dropped them
    assert not result.ok

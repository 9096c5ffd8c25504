"""
``bench.reliability --signed`` in small: the same chaos (redis-server killed, moto SQS cut off) with every message
signed and every delivered body verified. Exactly-once on Redis and SQS FIFO holds with signing on.
"""

from __future__ import annotations

import pytest

from bench.reliability import SIGNING_CONN, Settings, run

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


@pytest.fixture(autouse=True)
def _restore_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    # The harness sets its connections in the environment; monkeypatch puts the previous state back afterwards.
    for name in ("REDIS", "SQS", "SIGNING"):
        monkeypatch.setenv(f"AIRFLOW_CONN_HOKUSAI_RELIABILITY_{name}", "")
    assert SIGNING_CONN == "hokusai_reliability_signing"


def test_signed_run_loses_nothing_duplicates_nothing_and_every_body_verifies() -> None:
    settings = Settings(
        redis_versions=120,
        sqs_versions=20,
        redis_seconds=4.0,
        sqs_seconds=5.0,
        workers=4,
        redis_up=(0.3, 0.8),
        redis_down=(0.1, 0.4),
        sqs_up=(0.5, 1.2),
        sqs_down=(0.2, 0.6),
        max_seconds=150.0,
        signed=True,
    )
    results = {r.backend: r for r in run(settings)}

    assert set(results) == {"redis", "sqs-fifo", "sqs-standard"}
    for backend, result in results.items():
        assert result.finished and result.lost == 0, backend
        # A body that fails verification counts as invalid: none may.
        assert result.invalid_messages == 0 and result.unknown_messages == 0, backend
        assert result.delivered_unique == result.versions, backend
        assert not result.unexpected_errors, f"{backend}: {result.unexpected_errors}"
    assert results["redis"].duplicates == 0
    assert results["sqs-fifo"].duplicates == 0

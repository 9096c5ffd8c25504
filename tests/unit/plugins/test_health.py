"""Unit tests of the queue health endpoint with fake queue checks (the real brokers are in tests/integration)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from airflow_provider_hokusai.exceptions import InvalidHealthConfiguration, InvalidInputError
from airflow_provider_hokusai.plugins.health import (
    MAX_ERROR_CHARS,
    HealthChecker,
    HealthSettings,
    HokusaiPlugin,
    LazyHealthApp,
    connection_secrets,
    queue_health_from_status,
    scrub,
)

PASSWORD = "s3cr3t-Pa55word-7f1d"


def _status(**overrides: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "backend": "redis",
        "queue": "hokusai:model_ready_to_deploy",
        "reachable": True,
        "latency_ms": 0.42,
        "depth": 3,
        "processing_depth": 1,
        "dead_letter_depth": 0,
        "error": None,
    }
    status.update(overrides)
    return status


# Settings


def test_settings_parse_strips_dedupes_and_keeps_order() -> None:
    settings = HealthSettings.parse(" hokusai_queue, ,hokusai_sqs,hokusai_queue,", "1.5", "yes")
    assert settings == HealthSettings(conn_ids=("hokusai_queue", "hokusai_sqs"), timeout_seconds=1.5, require_auth=True)


def test_settings_defaults() -> None:
    assert HealthSettings.parse("", None, None) == HealthSettings(conn_ids=(), timeout_seconds=3.0, require_auth=False)


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "61", "three"])
def test_settings_reject_bad_timeout(timeout: str) -> None:
    with pytest.raises(InvalidHealthConfiguration) as info:
        HealthSettings.parse("q", timeout, "false")
    assert info.value.fields == ["health_timeout_seconds"]
    assert "> 0 and <= 60" in str(info.value)


def test_settings_name_every_bad_option() -> None:
    with pytest.raises(InvalidInputError) as info:
        HealthSettings.parse("good, bad id", "0", "maybe")
    assert info.value.fields == ["health_queue_conn_ids", "health_timeout_seconds", "health_require_auth"]
    assert "'bad id'" in str(info.value)


def test_settings_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "a,b")
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_TIMEOUT_SECONDS", "0.25")
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_REQUIRE_AUTH", "True")
    assert HealthSettings.from_config() == HealthSettings(("a", "b"), 0.25, True)


def test_settings_from_config_without_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    for option in ("HEALTH_QUEUE_CONN_IDS", "HEALTH_TIMEOUT_SECONDS", "HEALTH_REQUIRE_AUTH"):
        monkeypatch.delenv(f"AIRFLOW__HOKUSAI__{option}", raising=False)
    assert HealthSettings.from_config() == HealthSettings((), 3.0, False)


# Scrubbing


@pytest.mark.parametrize(
    "text",
    [
        f"Error connecting to redis://:{PASSWORD}@10.0.0.1:6379/0",
        f"cannot reach https://user:{PASSWORD}@sqs.local/q",
        f"AUTH failed password={PASSWORD}",
        f"{{'aws_secret_access_key': '{PASSWORD}'}}",
        f"https://sqs.local/?X-Amz-Signature={PASSWORD}&X-Amz-Date=1",
        f"literal {PASSWORD} anywhere",
    ],
)
def test_scrub_removes_credentials(text: str) -> None:
    cleaned = scrub(text, [PASSWORD])
    assert PASSWORD not in cleaned
    assert "***" in cleaned


def test_scrub_removes_patterns_without_knowing_the_secret() -> None:
    cleaned = scrub(f"redis://admin:{PASSWORD}@h:1 token={PASSWORD}")
    assert PASSWORD not in cleaned
    assert cleaned == "redis://***@h:1 token=***"


def test_scrub_keeps_harmless_text_and_bounds_length() -> None:
    assert scrub("Error 111 connecting to 127.0.0.1:6390. Connection refused.") == (
        "Error 111 connecting to 127.0.0.1:6390. Connection refused."
    )
    long = scrub("x" * 1000)
    assert len(long) == MAX_ERROR_CHARS
    assert long.endswith("...")


def test_connection_secrets_reads_password_and_secret_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HEALTH_SECRETS",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "AKIDEXAMPLE",
                "password": PASSWORD,
                "extra": {
                    "region_name": "us-east-1",
                    "aws_session_token": "session-tok-123",
                    "nested": {"client_secret": "nested-secret-456"},
                },
            }
        ),
    )
    secrets = connection_secrets("health_secrets")
    assert set(secrets) == {PASSWORD, "session-tok-123", "nested-secret-456"}


def test_connection_secrets_include_the_uri_encoded_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HEALTH_ENCODED", json.dumps({"conn_type": "redis", "password": "p@ss/w0rd"}))
    secrets = connection_secrets("health_encoded")
    assert "p%40ss%2Fw0rd" in secrets
    assert "p%40ss%2Fw0rd" not in scrub("AUTH for redis://h:1 with p%40ss%2Fw0rd failed", secrets)


def test_connection_secrets_of_a_missing_connection_is_empty() -> None:
    assert connection_secrets("no_such_connection_anywhere") == []


# Status -> public entry


def test_entry_keeps_only_whitelisted_fields() -> None:
    entry = queue_health_from_status("q", _status(password=PASSWORD, url=f"redis://:{PASSWORD}@h/0"))
    body = json.dumps(entry.to_dict())
    assert PASSWORD not in body
    assert entry.to_dict() == {
        "conn_id": "q",
        "healthy": True,
        "reachable": True,
        "backend": "redis",
        "queue": "hokusai:model_ready_to_deploy",
        "latency_ms": 0.42,
        "depth": 3,
        "processing_depth": 1,
        "dead_letter_depth": 0,
        "last_announcement_at": None,
        "error": None,
    }


def test_entry_with_error_is_unhealthy_and_scrubbed() -> None:
    entry = queue_health_from_status(
        "q", _status(reachable=True, error=f"dead-letter queue missing at https://u:{PASSWORD}@sqs/dlq")
    )
    assert not entry.healthy
    assert entry.error is not None
    assert PASSWORD not in entry.error


def test_entry_normalises_last_announcement_time_to_utc() -> None:
    entry = queue_health_from_status("q", _status(last_announcement_at="2026-05-01T12:00:00+02:00"))
    assert entry.last_announcement_at == "2026-05-01T10:00:00+00:00"
    assert queue_health_from_status("q", _status(last_announcement_at="not a time")).last_announcement_at is None


def test_entry_unreachable() -> None:
    entry = queue_health_from_status("q", _status(reachable=False, depth=None, error="Connection refused"))
    assert (entry.healthy, entry.reachable, entry.depth, entry.error) == (False, False, None, "Connection refused")


# Checker


def _run(checker: HealthChecker, settings: HealthSettings) -> dict[str, Any]:
    return asyncio.run(checker.check(settings)).to_dict()


def test_checks_run_concurrently() -> None:
    # Each check waits for the other: only concurrent checks get past the barrier.
    barrier = threading.Barrier(2)

    def status(conn_id: str) -> Mapping[str, Any]:
        barrier.wait(timeout=30)
        return _status()

    report = _run(HealthChecker(status, lambda _: []), HealthSettings(("a", "b"), timeout_seconds=60))
    assert report["status"] == "healthy"
    assert [q["conn_id"] for q in report["queues"]] == ["a", "b"]


def test_hanging_check_times_out_and_others_still_report() -> None:
    release = threading.Event()

    def status(conn_id: str) -> Mapping[str, Any]:
        if conn_id == "hangs":
            release.wait(timeout=60)
        return _status()

    try:
        report = _run(HealthChecker(status, lambda _: []), HealthSettings(("ok", "hangs"), timeout_seconds=0.2))
    finally:
        release.set()
    assert report["status"] == "unhealthy"
    ok, hangs = report["queues"]
    assert ok["healthy"] is True
    assert hangs == {
        "conn_id": "hangs",
        "healthy": False,
        "reachable": False,
        "backend": None,
        "queue": None,
        "latency_ms": None,
        "depth": None,
        "processing_depth": None,
        "dead_letter_depth": None,
        "last_announcement_at": None,
        "error": "timed out after 0.2s",
    }


def test_a_hung_check_is_not_started_twice() -> None:
    release = threading.Event()
    calls: list[str] = []

    def status(conn_id: str) -> Mapping[str, Any]:
        calls.append(conn_id)
        release.wait(timeout=60)
        return _status()

    checker = HealthChecker(status, lambda _: [])
    settings = HealthSettings(("hangs",), timeout_seconds=0.1)
    try:
        first = _run(checker, settings)
        second = _run(checker, settings)
    finally:
        release.set()
    assert calls == ["hangs"]
    assert first["queues"][0]["error"] == "timed out after 0.1s"
    assert "still running" in second["queues"][0]["error"]

    # The released check finishes (a probe now may still await it); after that, a probe starts a fresh one.
    assert _run(checker, HealthSettings(("hangs",), timeout_seconds=30))["status"] == "healthy"
    before = len(calls)
    assert _run(checker, HealthSettings(("hangs",), timeout_seconds=30))["status"] == "healthy"
    assert len(calls) == before + 1


def test_failing_check_becomes_unreachable_without_secrets() -> None:
    def status(conn_id: str) -> Mapping[str, Any]:
        raise ConnectionError(f"cannot connect to redis://:{PASSWORD}@127.0.0.1:1/0 (auth {PASSWORD})")

    report = _run(HealthChecker(status, lambda _: [PASSWORD]), HealthSettings(("q",), timeout_seconds=5))
    (entry,) = report["queues"]
    assert (entry["healthy"], entry["reachable"]) == (False, False)
    assert entry["error"].startswith("ConnectionError: cannot connect to redis://***@127.0.0.1:1/0")
    assert PASSWORD not in json.dumps(report)


def test_no_configured_queue_is_healthy() -> None:
    report = _run(HealthChecker(lambda _: _status(), lambda _: []), HealthSettings(()))
    assert (report["status"], report["queues"]) == ("healthy", [])


# The FastAPI app, in process


@pytest.fixture
def checker_calls() -> list[str]:
    return []


@pytest.fixture
def client(checker_calls: list[str]) -> Iterator[httpx.AsyncClient]:
    def status(conn_id: str) -> Mapping[str, Any]:
        checker_calls.append(conn_id)
        return _status(reachable=conn_id != "down", error="Connection refused" if conn_id == "down" else None)

    from airflow_provider_hokusai.plugins._health_app import create_app

    app = LazyHealthApp(lambda: create_app(HealthChecker(status, lambda _: [])))
    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hokusai.test")


def _get(client: httpx.AsyncClient, path: str = "/health", **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        async with client:
            return await client.get(path, **kwargs)

    return asyncio.run(call())


def test_app_200_when_all_healthy(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "a,b")
    response = _get(client)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "healthy"
    assert [q["conn_id"] for q in body["queues"]] == ["a", "b"]


def test_app_503_when_one_is_down(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "a,down")
    response = _get(client)
    assert response.status_code == 503
    assert [q["healthy"] for q in response.json()["queues"]] == [True, False]


def test_app_500_on_bad_config_checks_nothing(
    client: httpx.AsyncClient, checker_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "a")
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_TIMEOUT_SECONDS", "-3")
    response = _get(client)
    assert response.status_code == 500
    assert response.json() == {
        "status": "misconfigured",
        "error": "invalid [hokusai] health configuration (1 error(s)): "
        "health_timeout_seconds: must be a number of seconds > 0 and <= 60",
    }
    assert checker_calls == []


def test_app_requires_a_token_when_configured(
    client: httpx.AsyncClient, checker_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "a")
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_REQUIRE_AUTH", "true")
    response = _get(client)
    assert response.status_code == 401
    assert checker_calls == []


# The plugin


def test_plugin_mounts_the_app_under_hokusai() -> None:
    from airflow.sdk.plugins_manager import is_valid_plugin

    assert is_valid_plugin(HokusaiPlugin)
    (mount,) = HokusaiPlugin.fastapi_apps
    assert mount["url_prefix"] == "/hokusai"
    assert mount["name"] == "Hokusai"
    assert isinstance(mount["app"], LazyHealthApp)


def test_provider_info_registers_the_plugin_and_its_config() -> None:
    from airflow_provider_hokusai.get_provider_info import get_provider_info

    info = get_provider_info()
    assert {"name": "hokusai", "plugin-class": "airflow_provider_hokusai.plugins.health.HokusaiPlugin"} in info[
        "plugins"
    ]
    options = info["config"]["hokusai"]["options"]
    assert options["health_queue_conn_ids"]["default"] == ""
    assert options["health_timeout_seconds"]["default"] == "3"
    # The documented defaults must be ones the endpoint accepts.
    assert HealthSettings.parse(
        options["health_queue_conn_ids"]["default"],
        options["health_timeout_seconds"]["default"],
        options["health_require_auth"]["default"],
    ) == HealthSettings(())


def test_importing_the_plugin_does_not_import_fastapi_or_broker_clients() -> None:
    code = (
        "import sys, airflow_provider_hokusai.plugins.health\n"
        "loaded = sorted(m for m in ('fastapi', 'starlette', 'redis', 'boto3', 'botocore', 'mlflow') "
        "if m in sys.modules)\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == ""

"""Unit tests of the queue health endpoint with fake queue checks (the real brokers are in tests/integration)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_hokusai.exceptions import InvalidConfigurationError, InvalidInputError
from airflow_provider_hokusai.plugins._health_app import (
    create_app,
    describe_target,
    mask_connection,
    prepare_connection,
)
from airflow_provider_hokusai.plugins.health import (
    MAX_ERROR_CHARS,
    HealthChecker,
    HealthSettings,
    queue_entry,
    redact_text,
    summarize,
)
from airflow_provider_hokusai.plugins.lazy import LazyApp
from airflow_provider_hokusai.plugins.plugin import HokusaiPlugin
from airflow_provider_hokusai.queue.receipts import QueueStatus

PASSWORD = "s3cr3t-Pa55word-7f1d"
ENTRY_KEYS = {
    "conn_id",
    "healthy",
    "reachable",
    "backend",
    "queue",
    "latency_ms",
    "depth",
    "processing_depth",
    "dead_letter_depth",
    "last_announcement_at",
    "error",
    "warning",
}


def _status(**overrides: Any) -> QueueStatus:
    fields: dict[str, Any] = {
        "backend": "redis",
        "queue": "hokusai:model_ready_to_deploy",
        "reachable": True,
        "latency_ms": 0.42,
        "depth": 3,
        "processing_depth": 1,
        "dead_letter_depth": 0,
        "error": None,
    }
    return QueueStatus(**(fields | overrides))


def _unique_secret() -> str:
    # The masker is process-wide: a secret no other test registered shows what Airflow does not know about.
    return f"unregistered-{uuid.uuid4().hex}"


def _no_target(conn_id: str) -> None:
    return None


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


# Settings


def test_settings_strip_dedupe_and_keep_order() -> None:
    settings = HealthSettings.from_options(
        {
            "health_queue_conn_ids": " hokusai_queue, ,hokusai_sqs,hokusai_queue,",
            "health_timeout_seconds": "1.5",
            "health_require_auth": "yes",
        }
    )
    assert settings == HealthSettings(
        health_queue_conn_ids=("hokusai_queue", "hokusai_sqs"), health_timeout_seconds=1.5, health_require_auth=True
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"health_queue_conn_ids": "", "health_timeout_seconds": None, "health_require_auth": None},
        {"health_queue_conn_ids": " , ", "health_timeout_seconds": " ", "health_require_auth": ""},
    ],
)
def test_settings_defaults(options: dict[str, Any]) -> None:
    settings = HealthSettings.from_options(options)
    assert settings == HealthSettings(health_queue_conn_ids=(), health_timeout_seconds=3.0, health_require_auth=False)


def test_settings_take_typed_values() -> None:
    settings = HealthSettings.from_options({"health_queue_conn_ids": ["a", " b ", "a"], "health_require_auth": False})
    assert settings.health_queue_conn_ids == ("a", "b")
    assert settings.health_require_auth is False


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "61", "three", 0, -2.5])
def test_settings_reject_bad_timeout(timeout: object) -> None:
    with pytest.raises(InvalidConfigurationError) as info:
        HealthSettings.from_options({"health_queue_conn_ids": "q", "health_timeout_seconds": timeout})
    assert info.value.fields == ["health_timeout_seconds"]
    assert "> 0 and <= 60" in str(info.value)


@pytest.mark.parametrize("word", ["1", "on", "T", "True", "y"])
def test_settings_boolean_words(word: str) -> None:
    assert HealthSettings.from_options({"health_require_auth": word}).health_require_auth is True


def test_settings_name_every_bad_option() -> None:
    with pytest.raises(InvalidInputError) as info:
        HealthSettings.from_options(
            {
                "health_queue_conn_ids": "good, bad id, also bad",
                "health_timeout_seconds": "0",
                "health_require_auth": "maybe",
            }
        )
    assert info.value.fields == ["health_queue_conn_ids", "health_timeout_seconds", "health_require_auth"]
    assert "'bad id', 'also bad'" in str(info.value)
    assert "must be a boolean" in str(info.value)


def test_settings_refuse_unknown_options() -> None:
    with pytest.raises(InvalidConfigurationError) as info:
        HealthSettings.from_options({"health_timeout": "3"})
    assert info.value.fields == ["health_timeout"]


def test_settings_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "a,b")
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_TIMEOUT_SECONDS", "0.25")
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_REQUIRE_AUTH", "True")
    assert HealthSettings.from_config() == HealthSettings(
        health_queue_conn_ids=("a", "b"), health_timeout_seconds=0.25, health_require_auth=True
    )


def test_settings_from_config_without_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    for option in ("HEALTH_QUEUE_CONN_IDS", "HEALTH_TIMEOUT_SECONDS", "HEALTH_REQUIRE_AUTH"):
        monkeypatch.delenv(f"AIRFLOW__HOKUSAI__{option}", raising=False)
    assert HealthSettings.from_config() == HealthSettings()


# Secrets: Airflow's masker, plus the local step for what it was never told


def test_connection_password_sensitive_extras_and_quoted_forms_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    password, token, nested, region = "p@ss/w0rd-" + uuid.uuid4().hex, _unique_secret(), _unique_secret(), "zz-north-9"
    _connection(
        monkeypatch,
        "health_secrets",
        conn_type="aws",
        login="AKIDEXAMPLE",
        password=password,
        extra={"region_name": region, "aws_session_token": token, "nested": {"client_secret": nested}},
    )
    assert prepare_connection("health_secrets") == f"sqs queue (no queue) at sqs.{region}.amazonaws.com"
    quoted, slash_kept = password.replace("@", "%40").replace("/", "%2F"), password.replace("@", "%40")
    text = redact_text(f"AUTH {password} / {quoted} / {slash_kept} / {token} / {nested} in {region}")
    assert text == f"AUTH *** / *** / *** / *** / *** in {region}"


def test_masking_uses_airflows_sensitive_field_rules() -> None:
    from airflow.sdk import Connection

    kept, hidden = _unique_secret(), _unique_secret()
    # "webhook_url" is one of Airflow's sensitive names that the old local list did not have.
    mask_connection(Connection(conn_id="x", conn_type="aws", extra=json.dumps({"note": kept, "webhook_url": hidden})))
    assert redact_text(f"{kept} {hidden}") == f"{kept} ***"


def test_airflows_masker_misses_unregistered_uri_and_assignment_secrets() -> None:
    # The reason for the local step: nothing registered these (credentials from the environment, or an
    # endpoint_url, which Airflow does not deem sensitive), so Airflow's redact() leaves them in.
    from airflow.sdk._shared.secrets_masker import redact

    secret = _unique_secret()
    text = f"redis://admin:{secret}@h:1 token={secret}"
    assert redact(text) == text
    assert redact_text(text) == "redis://***@h:1 token=***"


@pytest.mark.parametrize(
    "template",
    [
        "Error connecting to redis://:{s}@10.0.0.1:6379/0",
        "cannot reach https://user:{s}@sqs.local/q",
        "AUTH failed password={s}",
        "{{'aws_secret_access_key': '{s}'}}",
        "https://sqs.local/?X-Amz-Signature={s}&X-Amz-Date=1",
    ],
)
def test_redact_text_removes_credentials_it_was_not_told(template: str) -> None:
    secret = _unique_secret()
    cleaned = redact_text(template.format(s=secret))
    assert secret not in cleaned
    assert "***" in cleaned


def test_short_password_in_a_uri_is_still_removed() -> None:
    # Airflow skips secrets shorter than [logging] min_length_masked_secret (5); the URI rule still applies.
    assert redact_text("redis://:abc@h:1/0 refused") == "redis://***@h:1/0 refused"


def test_redact_text_keeps_harmless_text_and_bounds_length() -> None:
    harmless = "Error 111 connecting to 127.0.0.1:6390. Connection refused."
    assert redact_text(harmless) == harmless
    long = redact_text("x" * 1000)
    assert len(long) == MAX_ERROR_CHARS
    assert long.endswith("...")


def test_prepare_connection_of_a_missing_connection_is_none() -> None:
    assert prepare_connection("no_such_connection_anywhere") is None


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"conn_type": "redis", "host": "redis.internal", "port": 6380}, "redis redis.internal:6380"),
        ({"conn_type": "rediss"}, "rediss 127.0.0.1:6379"),
        (
            {"conn_type": "aws", "extra": {"endpoint_url": f"http://key:{PASSWORD}@127.0.0.1:5000", "queue": "q.fifo"}},
            "sqs queue q.fifo at 127.0.0.1:5000",
        ),
        (
            {"conn_type": "aws", "extra": {"queue": "https://sqs.us-east-1.amazonaws.com/123456789012/hokusai"}},
            "sqs queue hokusai at sqs.us-east-1.amazonaws.com",
        ),
        (
            {"conn_type": "aws", "extra": {"region_name": "eu-west-1", "queue": "q"}},
            "sqs queue q at sqs.eu-west-1.amazonaws.com",
        ),
        ({"conn_type": "hokusai_sqs", "extra": {"queue": "q.fifo"}}, "sqs queue q.fifo"),
        ({"conn_type": "hokusai_redis", "host": "redis.internal"}, "hokusai_redis redis.internal:6379"),
    ],
)
def test_describe_target_names_host_and_queue_without_credentials(fields: dict[str, Any], target: str) -> None:
    from airflow.sdk import Connection

    extra = fields.pop("extra", None)
    conn = Connection(conn_id="t", extra=json.dumps(extra) if extra else None, **fields)
    assert describe_target(conn) == target


# One queue's entry: the QueueStatus fields plus conn_id and healthy


def test_entry_is_the_status_plus_conn_id_and_healthy() -> None:
    status = _status(last_announcement_at="2026-05-01T10:00:00.000000Z")
    entry = queue_entry("q", status)
    assert entry == {"conn_id": "q", "healthy": True, **status.to_dict()}
    assert set(entry) == ENTRY_KEYS


def test_entry_with_error_is_unhealthy_and_redacted() -> None:
    secret = _unique_secret()
    entry = queue_entry("q", _status(error=f"dead-letter queue missing at https://u:{secret}@sqs/dlq"))
    assert (entry["healthy"], entry["reachable"]) == (False, True)
    assert secret not in json.dumps(entry)


def test_entry_redacts_registered_secrets_in_every_text() -> None:
    from airflow.sdk.log import mask_secret

    secret = _unique_secret()
    mask_secret(secret)
    entry = queue_entry("q", _status(queue=f"list-{secret}", backend=f"redis {secret}", error=f"boom {secret}"))
    assert secret not in json.dumps(entry)


def test_entry_without_status_is_unreachable_with_null_fields() -> None:
    entry = queue_entry("q", error="Connection refused")
    assert entry == dict.fromkeys(ENTRY_KEYS) | {
        "conn_id": "q",
        "healthy": False,
        "reachable": False,
        "error": "Connection refused",
    }


# Checker


def _run(checker: HealthChecker, settings: HealthSettings) -> list[dict[str, Any]]:
    return asyncio.run(checker.check(settings))


def _settings(*conn_ids: str, timeout: float = 3.0) -> HealthSettings:
    return HealthSettings(health_queue_conn_ids=conn_ids, health_timeout_seconds=timeout)


def test_checks_run_concurrently() -> None:
    # Each check waits for the other: only concurrent checks get past the barrier.
    barrier = threading.Barrier(2)

    def status(conn_id: str) -> QueueStatus:
        barrier.wait(timeout=30)
        return _status()

    entries = _run(HealthChecker(status, _no_target), _settings("a", "b", timeout=60))
    assert [(q["conn_id"], q["healthy"]) for q in entries] == [("a", True), ("b", True)]


def test_hanging_check_times_out_and_others_still_report() -> None:
    release = threading.Event()

    def status(conn_id: str) -> QueueStatus:
        if conn_id == "hangs":
            release.wait(timeout=60)
        return _status()

    try:
        ok, hangs = _run(HealthChecker(status, _no_target), _settings("ok", "hangs", timeout=0.2))
    finally:
        release.set()
    assert ok["healthy"] is True
    assert hangs == dict.fromkeys(ENTRY_KEYS) | {
        "conn_id": "hangs",
        "healthy": False,
        "reachable": False,
        "error": "timed out after 0.2s",
    }


def test_timeout_names_the_target_without_credentials() -> None:
    release = threading.Event()

    def status(conn_id: str) -> QueueStatus:
        release.wait(timeout=60)
        return _status()

    def target(conn_id: str) -> str:
        return f"sqs queue q at https://key:{PASSWORD}@127.0.0.1:5000"

    try:
        (entry,) = _run(HealthChecker(status, target), _settings("sqs", timeout=0.2))
    finally:
        release.set()
    assert entry["error"] == "timed out after 0.2s waiting for sqs queue q at https://***@127.0.0.1:5000"


def test_a_hung_check_is_not_started_twice() -> None:
    release = threading.Event()
    calls: list[str] = []

    def status(conn_id: str) -> QueueStatus:
        calls.append(conn_id)
        release.wait(timeout=60)
        return _status()

    checker = HealthChecker(status, _no_target)
    try:
        (first,) = _run(checker, _settings("hangs", timeout=0.1))
        (second,) = _run(checker, _settings("hangs", timeout=0.1))
    finally:
        release.set()
    assert calls == ["hangs"]
    assert first["error"] == "timed out after 0.1s"
    assert "still running" in second["error"]

    # The released check finishes (a probe now may still await it); after that, a probe starts a fresh one.
    assert _run(checker, _settings("hangs", timeout=30))[0]["healthy"] is True
    before = len(calls)
    assert _run(checker, _settings("hangs", timeout=30))[0]["healthy"] is True
    assert len(calls) == before + 1


def test_failing_check_becomes_unreachable_without_the_connections_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p@ss-" + uuid.uuid4().hex
    quoted = password.replace("@", "%40")
    _connection(monkeypatch, "health_failing", conn_type="redis", host="127.0.0.1", port=1, password=password)

    def status(conn_id: str) -> QueueStatus:
        raise ConnectionError(f"cannot connect to redis://:{quoted}@127.0.0.1:1/0 (auth {password}, {quoted})")

    (entry,) = _run(HealthChecker(status, prepare_connection), _settings("health_failing", timeout=30))
    assert (entry["healthy"], entry["reachable"]) == (False, False)
    assert entry["error"] == "ConnectionError: cannot connect to redis://***@127.0.0.1:1/0 (auth ***, ***)"


def test_a_connection_whose_secrets_cannot_be_masked_is_not_checked() -> None:
    calls: list[str] = []

    def status(conn_id: str) -> QueueStatus:
        calls.append(conn_id)
        return _status()

    def prepare(conn_id: str) -> str:
        raise RuntimeError(f"masker broke on {PASSWORD}")

    (entry,) = _run(HealthChecker(status, prepare), _settings("q", timeout=30))
    assert calls == []
    assert (entry["healthy"], entry["error"]) == (False, "connection secrets could not be masked (RuntimeError)")


def test_no_configured_queue_checks_nothing() -> None:
    assert _run(HealthChecker(lambda _: _status(), _no_target), HealthSettings()) == []


# The FastAPI app, in process


@pytest.fixture
def checker_calls() -> list[str]:
    return []


@pytest.fixture
def client(checker_calls: list[str]) -> Iterator[httpx.AsyncClient]:
    def status(conn_id: str) -> QueueStatus:
        checker_calls.append(conn_id)
        return _status(reachable=conn_id != "down", error="Connection refused" if conn_id == "down" else None)

    app = LazyApp(lambda: create_app(HealthChecker(status, _no_target)))
    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hokusai.test")


def _get(client: httpx.AsyncClient, path: str = "/health", **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        async with client:
            return await client.get(path, **kwargs)

    return asyncio.run(call())


def test_app_200_when_all_healthy(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "a,b")
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_TIMEOUT_SECONDS", "2")
    response = _get(client)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"status", "checked_at", "timeout_seconds", "warnings", "queues"}
    assert (body["status"], body["timeout_seconds"]) == ("healthy", 2.0)
    assert [q["conn_id"] for q in body["queues"]] == ["a", "b"]
    assert all(set(q) == ENTRY_KEYS for q in body["queues"])


def test_app_503_when_one_is_down(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "a,down")
    response = _get(client)
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert [q["healthy"] for q in response.json()["queues"]] == [True, False]


def test_app_200_with_no_configured_queue(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__HOKUSAI__HEALTH_QUEUE_CONN_IDS", "")
    response = _get(client)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["queues"]) == ("healthy", [])


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
    webhook_mount, *_, mount = HokusaiPlugin.fastapi_apps
    # Longer prefixes first: Airflow mounts in order, and /hokusai would take /hokusai/webhooks/...
    assert webhook_mount["url_prefix"] == "/hokusai/webhooks"
    assert mount["url_prefix"] == "/hokusai"
    assert mount["name"] == "Hokusai"
    assert isinstance(mount["app"], LazyApp)


def test_provider_info_registers_the_plugin_and_its_config() -> None:
    from airflow_provider_hokusai.get_provider_info import get_provider_info

    info = get_provider_info()
    assert {"name": "hokusai", "plugin-class": "airflow_provider_hokusai.plugins.plugin.HokusaiPlugin"} in info[
        "plugins"
    ]
    options = info["config"]["hokusai"]["options"]
    assert set(options) >= set(HealthSettings.model_fields)
    assert options["health_queue_conn_ids"]["default"] == ""
    assert options["health_timeout_seconds"]["default"] == "3"
    # The documented defaults must be ones the endpoint accepts.
    defaults = {name: options[name]["default"] for name in HealthSettings.model_fields}
    assert HealthSettings.from_options(defaults) == HealthSettings()


def test_importing_the_plugin_does_not_import_fastapi_broker_clients_or_hooks() -> None:
    code = (
        "import sys, airflow_provider_hokusai.plugins.health\n"
        "loaded = sorted(m for m in ('fastapi', 'starlette', 'redis', 'boto3', 'botocore', 'mlflow', "
        "'airflow_provider_hokusai.hooks.queue', 'airflow_provider_hokusai.plugins._health_app') "
        "if m in sys.modules)\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == ""


# Overall status: healthy / degraded (warnings, still 200) / unhealthy (503)


def test_summarize_healthy_degraded_unhealthy() -> None:
    ok = queue_entry("a", _status())
    warned = queue_entry("b", _status(warning="persistence off (appendonly no): ..."))
    down = queue_entry("c", error="Connection refused")

    assert summarize([ok]) == ("healthy", [], 200)
    assert summarize([]) == ("healthy", [], 200)
    assert summarize([ok, warned]) == ("degraded", ["b: persistence off (appendonly no): ..."], 200)
    assert summarize([warned, down]) == ("unhealthy", ["b: persistence off (appendonly no): ..."], 503)
    assert warned["healthy"] is True  # a warning does not make the queue unhealthy


def test_warning_is_redacted() -> None:
    secret = _unique_secret()
    entry = queue_entry("q", _status(warning=f"persistence unknown at redis://u:{secret}@h:6379"))
    assert secret not in json.dumps(entry) and entry["warning"].startswith("persistence unknown")

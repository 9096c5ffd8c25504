"""The queue interface without a broker: factory, receipts, validation, settings precedence, no I/O at construction."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_hokusai.exceptions import (
    HokusaiPermanentError,
    InvalidConfigurationError,
    InvalidQueueMessage,
)
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.hooks.redis import RedisQueueHook, hash_tag
from airflow_provider_hokusai.hooks.sqs import SqsQueueHook
from airflow_provider_hokusai.messages import build_model_ready_message
from airflow_provider_hokusai.queue.receipts import PublishReceipt, QueueStatus
from airflow_provider_hokusai.queue.retry import RetryPolicy
from airflow_provider_hokusai.queue.settings import DEFAULT_DEAD_LETTER_QUEUE, DEFAULT_PROCESSING_QUEUE, DEFAULT_QUEUE


def redis_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "redis", "host": "h", **fields}))


def test_factory_follows_the_connection_type(monkeypatch: pytest.MonkeyPatch) -> None:
    redis_conn(monkeypatch, "q_redis")
    monkeypatch.setenv("AIRFLOW_CONN_Q_REDISS", "rediss://:pw@h:6380/0")
    monkeypatch.setenv("AIRFLOW_CONN_Q_AWS", json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}}))
    assert isinstance(get_queue_hook("q_redis"), RedisQueueHook)
    tls = get_queue_hook("q_rediss")
    assert isinstance(tls, RedisQueueHook) and tls.settings.tls is True and tls.settings.port == 6380
    sqs = get_queue_hook("q_aws", queue_name="x.fifo", retry=RetryPolicy(attempts=5))
    assert isinstance(sqs, SqsQueueHook) and sqs.is_fifo and sqs.retry_policy.attempts == 5


def test_unknown_connection_type_names_the_id_and_the_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_Q_PG", "postgres://u:secret-pw@h:5432/db")
    with pytest.raises(InvalidConfigurationError) as info:
        get_queue_hook("q_pg")
    assert "'q_pg'" in str(info.value) and "'postgres'" in str(info.value)
    assert "secret-pw" not in str(info.value)
    assert isinstance(info.value, HokusaiPermanentError)
    with pytest.raises(InvalidConfigurationError) as empty:
        get_queue_hook(" ")
    assert empty.value.fields == ["queue_conn_id"]


def test_constructors_do_no_io() -> None:
    # Neither connection exists: any lookup or network call in __init__ would raise here.
    redis_hook = RedisQueueHook(redis_conn_id="nowhere", queue_name="q")
    sqs_hook = SqsQueueHook(aws_conn_id="nowhere", queue_name="q")
    assert (redis_hook.redis_conn_id, sqs_hook.aws_conn_id) == ("nowhere", "nowhere")
    assert (RedisQueueHook.conn_type, SqsQueueHook.conn_type) == ("redis", "aws")
    assert (RedisQueueHook.conn_name_attr, SqsQueueHook.conn_name_attr) == ("redis_conn_id", "aws_conn_id")
    assert (RedisQueueHook.default_conn_name, SqsQueueHook.default_conn_name) == ("redis_default", "aws_default")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dedup_ttl_seconds": 0}, "dedup_ttl_seconds"),
        ({"dedup_ttl_seconds": "7"}, "dedup_ttl_seconds"),
        ({"max_message_bytes": -1}, "max_message_bytes"),
        ({"retry": {"attempts": 3}}, "retry"),
        ({"queue_name": 5}, "queue_name"),
    ],
)
def test_bad_hook_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidConfigurationError) as info:
        RedisQueueHook(redis_conn_id="x", **kwargs)  # type: ignore[arg-type]
    assert info.value.fields == [field]


def test_redis_settings_defaults_and_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    redis_conn(monkeypatch, "plain")
    plain = RedisQueueHook(redis_conn_id="plain")
    settings = plain.settings
    assert (plain.queue_name, settings.extra.processing_queue, settings.extra.dead_letter_queue) == (
        DEFAULT_QUEUE,
        DEFAULT_PROCESSING_QUEUE,
        DEFAULT_DEAD_LETTER_QUEUE,
    )
    assert (settings.port, settings.extra.db, settings.tls, settings.extra.max_connections) == (6379, 0, False, 16)
    assert plain.dedup_ttl_seconds == 7 * 24 * 3600
    assert plain.max_message_bytes == 256 * 1024

    extra = {
        "queue": "q:extra",
        "dead_letter_queue": "q:dead",
        "dedup_ttl_seconds": "600",
        "max_connections": 4,
        "socket_timeout": 1.5,
        "ssl": True,
        "ssl_cert_reqs": "required",
        "db": 2,
    }
    redis_conn(monkeypatch, "tuned", extra=extra)
    tuned = RedisQueueHook(redis_conn_id="tuned", queue_name="q:arg", dedup_ttl_seconds=60)
    s = tuned.settings
    assert (tuned.queue_name, s.extra.dead_letter_queue, s.extra.processing_queue) == (
        "q:arg",
        "q:dead",
        DEFAULT_PROCESSING_QUEUE,
    )
    assert (s.extra.max_connections, s.extra.socket_timeout, s.tls, s.extra.db) == (4, 1.5, True, 2)
    assert dict(s.ssl_args) == {"ssl_cert_reqs": "required"}
    assert tuned.dedup_ttl_seconds == 60
    assert RedisQueueHook(redis_conn_id="tuned").dedup_ttl_seconds == 600
    assert RedisQueueHook(redis_conn_id="tuned").queue_name == "q:extra"


def test_redis_bad_extras_name_every_field(monkeypatch: pytest.MonkeyPatch) -> None:
    redis_conn(
        monkeypatch,
        "bad",
        extra={"db": -1, "cluster": True, "health_check_interval": "often", "queue": "", "socket_timeout": "soon"},
    )
    with pytest.raises(InvalidConfigurationError) as info:
        _ = RedisQueueHook(redis_conn_id="bad").settings
    assert sorted(info.value.fields) == [
        "extra.cluster",
        "extra.db",
        "extra.health_check_interval",
        "extra.queue",
        "extra.socket_timeout",
    ]
    redis_conn(monkeypatch, "bad2", extra={"socket_timeout": "soon"})
    with pytest.raises(InvalidConfigurationError) as timeout:
        _ = RedisQueueHook(redis_conn_id="bad2").settings
    assert timeout.value.fields == ["extra.socket_timeout"]


def test_pool_key_never_holds_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    redis_conn(monkeypatch, "secret", password="s3cret-Pa55")
    key = RedisQueueHook(redis_conn_id="secret").settings.pool_key(RetryPolicy())
    assert "s3cret-Pa55" not in key
    assert "s3cret-Pa55" not in repr(RedisQueueHook(redis_conn_id="secret").settings.address)


@pytest.mark.parametrize(
    ("queue", "prefix"),
    [
        ("hokusai:model_ready_queue", "{hokusai:model_ready_queue}"),
        ("{hokusai}:ready", "{hokusai}:ready"),
        ("odd{}name", "{odd{}name}"),
    ],
)
def test_script_keys_share_the_queue_slot(queue: str, prefix: str) -> None:
    assert hash_tag(queue) == prefix


def test_only_rendered_messages_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    redis_conn(monkeypatch, "plain")
    hook = RedisQueueHook(redis_conn_id="plain")
    message = build_model_ready_message(
        model_name="m",
        model_version=1,
        mlflow_run_id="r",
        token_symbol="ABC",
        metric_name="accuracy",
        current_value=0.9,
        baseline_value=0.8,
    )
    for bad in (message.to_dict(), message.to_json(), "{{ ti.xcom_pull('x') }}", None):
        with pytest.raises(InvalidQueueMessage) as info:
            hook.publish(bad)  # type: ignore[arg-type]
        assert info.value.fields == ["message"]
    with pytest.raises(InvalidQueueMessage) as many:
        hook.publish_many(message)  # type: ignore[arg-type]
    assert many.value.fields == ["messages"]
    assert hook.publish_many([]) == []


def test_receipt_and_status_are_json_ready() -> None:
    receipt = PublishReceipt("id", "sqs", "url", "b-1", False, 2, 1.5, "2026-01-01T00:00:00.000000Z")
    assert json.loads(json.dumps(receipt.to_dict())) == {
        "message_id": "id",
        "backend": "sqs",
        "queue": "url",
        "broker_message_id": "b-1",
        "duplicate": False,
        "attempts": 2,
        "duration_ms": 1.5,
        "published_at": "2026-01-01T00:00:00.000000Z",
    }
    status = QueueStatus(backend="redis", queue="q", reachable=False, error="ConnectionError: refused")
    assert json.loads(json.dumps(status.to_dict()))["depth"] is None


def test_importing_the_queue_interface_loads_no_client_library() -> None:
    # DAG files reach the backends only through get_queue_hook, which imports them (and redis/boto3) on call.
    code = (
        "import sys\n"
        "import airflow_provider_hokusai.hooks.queue\n"
        "import airflow_provider_hokusai.utils.metrics\n"
        "import airflow_provider_hokusai.queue.retry\n"
        "print(sorted(m for m in ('redis', 'boto3', 'botocore', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(("conn_type", "warned"), [("hokusai_sqs", False), ("http", True)])
def test_only_the_hokusai_sqs_type_is_read_without_the_aws_type_warning(
    monkeypatch: pytest.MonkeyPatch, conn_type: str, warned: bool
) -> None:
    import warnings

    extra = {"region_name": "us-east-1", "queue": "q"}
    monkeypatch.setenv("AIRFLOW_CONN_Q_TYPED", json.dumps({"conn_type": conn_type, "extra": extra}))
    hook = SqsQueueHook(aws_conn_id="q_typed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert hook.extra.queue == "q"
    expected = [str(w.message) for w in caught if "expected connection type 'aws'" in str(w.message)]
    assert bool(expected) is warned, expected

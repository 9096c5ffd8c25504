"""RetryPolicy: validation, backoff bounds, and its redis-py / botocore forms (the clients do the retrying)."""

from __future__ import annotations

import pytest

from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidConfigurationError
from airflow_provider_hokusai.queue.retry import RetryPolicy


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"attempts": 0}, ["attempts"]),
        ({"attempts": 21}, ["attempts"]),
        ({"attempts": 2.5}, ["attempts"]),
        ({"attempts": True}, ["attempts"]),
        ({"backoff_base": -1}, ["backoff_base"]),
        ({"backoff_base": float("nan")}, ["backoff_base"]),
        ({"backoff_base": 3.0, "backoff_cap": 1.0}, ["backoff_cap"]),
        ({"jitter": "sometimes"}, ["jitter"]),
        ({"attempts": 0, "backoff_cap": float("inf"), "jitter": "x"}, ["attempts", "backoff_cap", "jitter"]),
    ],
)
def test_invalid_policies_name_each_field(kwargs: dict[str, object], fields: list[str]) -> None:
    with pytest.raises(InvalidConfigurationError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.fields == fields
    assert isinstance(info.value, HokusaiPermanentError)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(InvalidConfigurationError) as info:
        RetryPolicy(attempts=5, tries=3)
    assert info.value.fields == ["tries"]


@pytest.mark.parametrize("jitter", ["none", "full", "equal"])
def test_redis_delays_grow_and_stay_under_the_cap(jitter: str) -> None:
    policy = RetryPolicy(attempts=10, backoff_base=0.1, backoff_cap=1.0, jitter=jitter)  # type: ignore[arg-type]
    backoff = policy.to_redis_backoff()
    for failures in range(1, 12):
        exponential = min(1.0, 0.1 * 2**failures)
        delay = backoff.compute(failures)
        low = {"none": exponential, "full": 0.0, "equal": exponential / 2}[jitter]
        assert low <= delay <= exponential
    assert policy.max_total_delay() == pytest.approx(0.2 + 0.4 + 0.8 + 1.0 * 6)
    # botocore's standard mode: up to 1 s, then 2 s, 4 s... capped at 20 s per wait.
    assert RetryPolicy(attempts=3).max_total_delay("sqs") == pytest.approx(1 + 2)
    assert RetryPolicy(attempts=8).max_total_delay("sqs") == pytest.approx(1 + 2 + 4 + 8 + 16 + 20 + 20)


def test_redis_retry_and_botocore_retries_match_the_policy() -> None:
    from redis.backoff import EqualJitterBackoff, ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    retry = RetryPolicy(attempts=4, jitter="equal").to_redis_retry()
    assert retry.get_retries() == 3
    assert isinstance(retry._backoff, EqualJitterBackoff)
    assert RedisConnectionError in retry._supported_errors
    assert isinstance(RetryPolicy(jitter="none").to_redis_retry()._backoff, ExponentialBackoff)
    assert RetryPolicy(attempts=5).to_botocore_retries() == {"mode": "standard", "total_max_attempts": 5}

    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RedisConnectionError("reset")
        return "ok"

    fast = RetryPolicy(attempts=2, backoff_base=0.0, backoff_cap=0.0).to_redis_retry()
    assert fast.call_with_retry(flaky, lambda _: None) == "ok"
    assert calls == 2

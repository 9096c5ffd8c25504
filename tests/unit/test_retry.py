"""RetryPolicy: validation, backoff bounds, the bounded loop, and its redis-py / botocore forms."""

from __future__ import annotations

import pytest

from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidRetryPolicy
from airflow_provider_hokusai.retry import RetryPolicy


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
    with pytest.raises(InvalidRetryPolicy) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.fields == fields
    assert isinstance(info.value, HokusaiPermanentError)


def test_from_mapping_refuses_unknown_keys() -> None:
    assert RetryPolicy.from_mapping({"attempts": 5}) == RetryPolicy(attempts=5)
    with pytest.raises(InvalidRetryPolicy) as info:
        RetryPolicy.from_mapping({"attempts": 5, "tries": 3})
    assert info.value.fields == ["tries"]


@pytest.mark.parametrize("jitter", ["none", "full", "equal"])
def test_delays_grow_and_stay_under_the_cap(jitter: str) -> None:
    policy = RetryPolicy(attempts=10, backoff_base=0.1, backoff_cap=1.0, jitter=jitter)  # type: ignore[arg-type]
    for failures in range(1, 12):
        exponential = min(1.0, 0.1 * 2**failures)
        delay = policy.delay(failures)
        low = {"none": exponential, "full": 0.0, "equal": exponential / 2}[jitter]
        assert low <= delay <= exponential
    assert policy.max_total_delay() == pytest.approx(0.2 + 0.4 + 0.8 + 1.0 * 6)


def test_call_retries_only_the_given_errors_and_stops_at_attempts() -> None:
    policy = RetryPolicy(attempts=3, backoff_base=0.5, backoff_cap=0.5, jitter="none")
    sleeps: list[float] = []
    seen: list[int] = []
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("down")
        return "ok"

    assert (
        policy.call(flaky, retry_on=(ConnectionError,), on_retry=lambda e, n: seen.append(n), sleep=sleeps.append)
        == "ok"
    )
    assert (calls, seen, sleeps) == (3, [1, 2], [0.5, 0.5])

    def broken() -> None:
        raise ValueError("bad input")

    sleeps.clear()
    with pytest.raises(ValueError):
        policy.call(broken, retry_on=(ConnectionError,), sleep=sleeps.append)
    assert sleeps == []


def test_always_failing_call_is_tried_exactly_attempts_times() -> None:
    calls = 0

    def down() -> None:
        nonlocal calls
        calls += 1
        raise TimeoutError

    with pytest.raises(TimeoutError):
        RetryPolicy(attempts=4).call(down, retry_on=(TimeoutError,), sleep=lambda _: None)
    assert calls == 4


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


def test_retry_if_refuses_a_retry_the_error_type_alone_would_allow() -> None:
    calls = 0

    def refused() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("auth failed")

    with pytest.raises(ConnectionRefusedError):
        RetryPolicy(attempts=5).call(
            refused, retry_on=(ConnectionError,), retry_if=lambda e: "auth" not in str(e), sleep=lambda _: None
        )
    assert calls == 1

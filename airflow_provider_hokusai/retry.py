"""
Bounded retries as a value object, handed to the queue hooks the way redis-py takes a ``Retry``.

A :class:`RetryPolicy` covers the in-task retries of one publish (a broker restart, a dropped connection). When it
is used up the hook raises a retryable error and Airflow's own task retries take over, so the policy should stay
short: seconds, not minutes. The policy turns itself into the ecosystem's objects where they exist
(:meth:`RetryPolicy.to_redis_retry`, :meth:`RetryPolicy.to_botocore_retries`) instead of the hooks sleeping ad hoc.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from airflow_provider_hokusai.exceptions import InvalidRetryPolicy

if TYPE_CHECKING:
    from redis.retry import Retry

T = TypeVar("T")

Jitter = Literal["none", "full", "equal"]
JITTERS: tuple[str, ...] = ("none", "full", "equal")
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class RetryPolicy:
    """
    How often, and how far apart, one operation is tried.

    The delay before retry ``n`` (``n`` = failures so far, from 1) is ``min(backoff_cap, backoff_base * 2**n)``,
    then jittered: ``none`` keeps it, ``full`` draws from ``[0, d]``, ``equal`` from ``[d/2, d]`` (the formulas of
    redis-py's ``ExponentialBackoff``, ``FullJitterBackoff`` and ``EqualJitterBackoff``).

    :param attempts: Total tries, the first included; 1 means no retry. At most 20.
    :param backoff_base: Seconds; the first retry waits about ``2 * backoff_base``.
    :param backoff_cap: Upper bound of one delay, in seconds.
    :param jitter: ``"none"``, ``"full"`` or ``"equal"``.
    :raises InvalidRetryPolicy: naming each field that breaks its rule.
    """

    attempts: int = 3
    backoff_base: float = 0.05
    backoff_cap: float = 2.0
    jitter: Jitter = "equal"

    def __post_init__(self) -> None:
        errors: list[tuple[str, str]] = []
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            errors.append(("attempts", "must be an integer"))
        elif not 1 <= self.attempts <= MAX_ATTEMPTS:
            errors.append(("attempts", f"must be between 1 and {MAX_ATTEMPTS}"))
        for name in ("backoff_base", "backoff_cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                errors.append((name, "must be a finite number of seconds"))
            elif value < 0:
                errors.append((name, "must be >= 0"))
        if not errors and self.backoff_cap < self.backoff_base:
            errors.append(("backoff_cap", "must be >= backoff_base"))
        if self.jitter not in JITTERS:
            errors.append(("jitter", f"must be one of {', '.join(JITTERS)}"))
        if errors:
            raise InvalidRetryPolicy(errors)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> RetryPolicy:
        """Build from a dict such as a connection extra's ``retry`` object; unknown keys are refused."""
        unknown = sorted(set(values) - {"attempts", "backoff_base", "backoff_cap", "jitter"})
        if unknown:
            raise InvalidRetryPolicy([(key, "unknown retry policy key") for key in unknown])
        return cls(**values)

    @property
    def retries(self) -> int:
        """Retries after the first attempt."""
        return self.attempts - 1

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed tries (``failures >= 1``)."""
        exponential = min(self.backoff_cap, self.backoff_base * 2 ** min(failures, 62))
        if self.jitter == "full":
            return random.uniform(0, exponential)
        if self.jitter == "equal":
            return exponential / 2 + random.uniform(0, exponential / 2)
        return exponential

    def max_total_delay(self) -> float:
        """Upper bound of the time spent sleeping between all the tries."""
        return sum(min(self.backoff_cap, self.backoff_base * 2**n) for n in range(1, self.attempts))

    def call(
        self,
        fn: Callable[[], T],
        *,
        retry_on: tuple[type[BaseException], ...],
        retry_if: Callable[[BaseException], bool] | None = None,
        on_retry: Callable[[BaseException, int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """
        Call ``fn`` until it returns, retrying only the ``retry_on`` errors, at most ``attempts`` times in all.

        The first try runs bare, so a call that succeeds pays nothing for the policy.

        :param retry_if: A finer test of a ``retry_on`` error (e.g. an authentication error is a redis-py
            ``ConnectionError`` that no retry fixes).
        :param on_retry: Called with the error and the number of failures so far, before each wait.
        :raises: the last error when the attempts are used up, or at once any error not retried.
        """
        failures = 0
        while True:
            try:
                return fn()
            except retry_on as error:
                if retry_if is not None and not retry_if(error):
                    raise
                failures += 1
                if failures >= self.attempts:
                    raise
                if on_retry is not None:
                    on_retry(error, failures)
                sleep(self.delay(failures))

    def to_redis_retry(self, supported_errors: tuple[type[Exception], ...] | None = None) -> Retry:
        """
        The equivalent redis-py ``Retry`` (connection and timeout errors by default), for a redis-py client that
        should retry with the same policy on its own.
        """
        from redis import exceptions as rex
        from redis.backoff import EqualJitterBackoff, ExponentialBackoff, FullJitterBackoff
        from redis.retry import Retry

        backoff: Any
        if self.jitter == "full":
            backoff = FullJitterBackoff(cap=self.backoff_cap, base=self.backoff_base)
        elif self.jitter == "equal":
            backoff = EqualJitterBackoff(cap=self.backoff_cap, base=self.backoff_base)
        else:
            backoff = ExponentialBackoff(cap=self.backoff_cap, base=self.backoff_base)
        errors = supported_errors or (rex.ConnectionError, rex.TimeoutError, ConnectionResetError)
        return Retry(backoff, self.retries, supported_errors=errors)

    def to_botocore_retries(self) -> dict[str, Any]:
        """
        The ``retries`` section of a botocore ``Config``: standard mode, ``total_max_attempts = attempts``.

        Standard mode retries throttling, 5xx answers and connection errors with its own jittered backoff.
        """
        return {"mode": "standard", "total_max_attempts": self.attempts}


DEFAULT_RETRY_POLICY = RetryPolicy()

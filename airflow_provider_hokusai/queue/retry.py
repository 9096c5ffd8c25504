"""
Bounded in-task retries of one publish, as a value handed to the client library that does the retrying.

There is one retry layer per backend, inside its client: redis-py's ``Retry`` on the connection pool
(:meth:`RetryPolicy.to_redis_retry`) and botocore's ``standard`` retry mode with ``total_max_attempts``
(:meth:`RetryPolicy.to_botocore_retries`). The hooks never loop themselves. When the client gives up, the hook raises
a retryable error and Airflow's task retries take over, so the policy should stay short: seconds, not minutes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from airflow_provider_hokusai.exceptions import InvalidConfigurationError

if TYPE_CHECKING:
    from redis.backoff import AbstractBackoff
    from redis.retry import Retry

__all__ = ["RetryPolicy"]

_MAX_ATTEMPTS = 20
#: botocore's standard mode waits ``uniform(0, 1) * 2**(retry - 1)`` seconds, at most 20, before a retry.
_BOTOCORE_MAX_BACKOFF = 20.0


class RetryPolicy(BaseModel):
    """
    How often, and how far apart, one publish is tried.

    The delay before retry ``n`` (``n`` = failures so far, from 1) is ``min(backoff_cap, backoff_base * 2**n)``,
    jittered as redis-py's ``ExponentialBackoff`` (``none``), ``FullJitterBackoff`` (``full``) or
    ``EqualJitterBackoff`` (``equal``) do it. botocore computes its own delays (see :meth:`max_total_delay`).

    :param attempts: Total tries, the first included; 1 means no retry. At most 20.
    :param backoff_base: Seconds; the first retry waits about ``2 * backoff_base``.
    :param backoff_cap: Upper bound of one delay, in seconds; at least ``backoff_base``.
    :param jitter: ``"none"``, ``"full"`` or ``"equal"``.
    :raises InvalidConfigurationError: naming each field that breaks its rule.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    attempts: int = Field(3, ge=1, le=_MAX_ATTEMPTS)
    backoff_base: float = Field(0.05, ge=0, allow_inf_nan=False)
    backoff_cap: float = Field(2.0, ge=0, allow_inf_nan=False)
    jitter: Literal["none", "full", "equal"] = "equal"

    def __init__(self, **values: Any) -> None:
        from airflow_provider_hokusai.utils.validation import field_errors

        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise InvalidConfigurationError(field_errors(exc), subject="retry policy") from None

    @field_validator("backoff_cap")
    @classmethod
    def _cap_above_base(cls, cap: float, info: ValidationInfo) -> float:
        base = info.data.get("backoff_base")
        if base is not None and cap < base:
            raise ValueError("must be >= backoff_base")
        return cap

    @property
    def retries(self) -> int:
        """Retries after the first attempt."""
        return self.attempts - 1

    def max_total_delay(self, backend: Literal["redis", "sqs"] = "redis") -> float:
        """Upper bound of the time spent waiting between all the tries of one call, in seconds."""
        if backend == "sqs":
            return sum(min(_BOTOCORE_MAX_BACKOFF, 2.0**n) for n in range(self.retries))
        return sum(min(self.backoff_cap, self.backoff_base * 2**n) for n in range(1, self.attempts))

    def to_redis_backoff(self) -> AbstractBackoff:
        """The redis-py backoff of this policy."""
        from redis.backoff import EqualJitterBackoff, ExponentialBackoff, FullJitterBackoff

        backoffs: dict[str, Any] = {"full": FullJitterBackoff, "equal": EqualJitterBackoff, "none": ExponentialBackoff}
        backoff: AbstractBackoff = backoffs[self.jitter](cap=self.backoff_cap, base=self.backoff_base)
        return backoff

    def to_redis_retry(self, supported_errors: tuple[type[Exception], ...] | None = None) -> Retry:
        """
        The equivalent redis-py ``Retry``: connection errors and timeouts by default.

        :param supported_errors: The errors to retry instead of the default ones.
        """
        from redis import exceptions as rex
        from redis.retry import Retry

        errors = supported_errors or (rex.ConnectionError, rex.TimeoutError, ConnectionResetError)
        return Retry(self.to_redis_backoff(), self.retries, supported_errors=errors)

    def to_botocore_retries(self) -> dict[str, Any]:
        """
        The ``retries`` section of a botocore ``Config``: standard mode, ``total_max_attempts = attempts``.

        Standard mode retries throttling, 5xx answers and connection errors with its own jittered backoff.
        """
        return {"mode": "standard", "total_max_attempts": self.attempts}

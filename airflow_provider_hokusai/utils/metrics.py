"""
Names of the metrics the provider emits through Airflow's ``Stats`` (StatsD or OpenTelemetry, as configured).

Every name starts with ``hokusai.``. Queue metrics carry the tags ``backend`` (``redis`` or ``sqs``) and ``queue``;
with StatsD tagging off, Airflow drops the tags and the names stay valid.
"""

from __future__ import annotations

import re

from airflow_provider_hokusai.utils.compat import Stats

__all__ = [
    "ALL_METRICS",
    "BASELINE_FAILED",
    "BASELINE_PASSED",
    "DEADLINE_MISSED",
    "QUEUE_DUPLICATE",
    "QUEUE_FAILED",
    "QUEUE_PUBLISHED",
    "QUEUE_PUBLISH_DURATION",
    "QUEUE_RETRIED",
    "RECONCILE_FAILED",
    "RECONCILE_FOUND",
    "RECONCILE_PUBLISHED",
    "RECONCILE_TRUNCATED",
    "TASK_FAILED",
    "metric_tag_value",
    "queue_tags",
    "record_publish",
    "record_publish_failure",
]

_PREFIX = "hokusai"

#: Counter: messages the broker accepted (new ones, not duplicates).
QUEUE_PUBLISHED = f"{_PREFIX}.queue.published"
#: Counter: publishes absorbed by deduplication (the message id was already on the queue).
QUEUE_DUPLICATE = f"{_PREFIX}.queue.duplicate"
#: Counter: publishes that failed for good (after the bounded retries, or at once for a permanent error).
#: Extra tag ``reason``: ``retryable`` or ``permanent``.
QUEUE_FAILED = f"{_PREFIX}.queue.failed"
#: Counter: retries the client (redis-py, botocore) made inside one publish, by their number.
QUEUE_RETRIED = f"{_PREFIX}.queue.retried"
#: Timer (milliseconds): one publish call, retries included, from first attempt to the broker's answer.
QUEUE_PUBLISH_DURATION = f"{_PREFIX}.queue.publish_duration"

#: Counter: the baseline gate passed (the candidate beat its baseline). Tags ``metric``, ``dag_id``, ``task_id``.
BASELINE_PASSED = f"{_PREFIX}.baseline.passed"
#: Counter: the baseline gate failed for good. Tags ``metric``, ``dag_id``, ``task_id`` and ``reason``
#: (``baseline_not_met``, ``run_failed``, ``metric_missing`` or ``baseline_unavailable``).
BASELINE_FAILED = f"{_PREFIX}.baseline.failed"

#: Counters of a reconciliation run: versions found without a receipt, then published, then failed.
RECONCILE_FOUND = f"{_PREFIX}.reconcile.found"
RECONCILE_PUBLISHED = f"{_PREFIX}.reconcile.published"
RECONCILE_FAILED = f"{_PREFIX}.reconcile.failed"
#: Counter: a reconciliation run stopped at its ``max_versions`` bound with unannounced versions left over.
RECONCILE_TRUNCATED = f"{_PREFIX}.reconcile.truncated"

#: Counter: a release task failed (tags ``dag_id``, ``task_id``).
TASK_FAILED = f"{_PREFIX}.task.failed"
#: Counter: a release DAG run missed its deadline (tag ``dag_id``).
DEADLINE_MISSED = f"{_PREFIX}.deadline.missed"

ALL_METRICS = (
    QUEUE_PUBLISHED,
    QUEUE_DUPLICATE,
    QUEUE_FAILED,
    QUEUE_RETRIED,
    QUEUE_PUBLISH_DURATION,
    BASELINE_PASSED,
    BASELINE_FAILED,
    RECONCILE_FOUND,
    RECONCILE_PUBLISHED,
    RECONCILE_FAILED,
    RECONCILE_TRUNCATED,
    TASK_FAILED,
    DEADLINE_MISSED,
)

_METRIC_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-/]")


def metric_tag_value(value: str) -> str:
    """
    ``value`` with every character Airflow's metric-name validation refuses replaced by ``_``.

    With InfluxDB-style tagging the tags travel inside the stat name, and Airflow drops the whole metric when the
    name holds anything but letters, digits and ``_ . - /``: ``hokusai:model_ready_queue`` would lose them all.
    """
    return _METRIC_TAG_UNSAFE.sub("_", value)


def record_publish(tags: dict[str, str], *, new: int, duplicates: int, retries: int, duration_ms: float) -> None:
    """
    Emit what one publish call did: ``new`` messages taken, ``duplicates`` absorbed, the client's ``retries``.

    :param tags: The queue's tags (``backend``, ``queue``), as :func:`queue_tags` gives them.
    """
    if new:
        Stats.incr(QUEUE_PUBLISHED, new, tags=tags)
    if duplicates:
        Stats.incr(QUEUE_DUPLICATE, duplicates, tags=tags)
    if retries:
        Stats.incr(QUEUE_RETRIED, retries, tags=tags)
    Stats.timing(QUEUE_PUBLISH_DURATION, duration_ms, tags=tags)


def record_publish_failure(tags: dict[str, str], *, count: int, permanent: bool, retries: int) -> None:
    """Emit ``count`` messages a publish call failed to hand over, and the client's ``retries`` before it gave up."""
    Stats.incr(QUEUE_FAILED, count, tags={**tags, "reason": "permanent" if permanent else "retryable"})
    if retries:
        Stats.incr(QUEUE_RETRIED, retries, tags=tags)


def queue_tags(backend: str, queue: str | None) -> dict[str, str]:
    """The tags of a queue's metrics; without ``queue`` when it could not be resolved (a misconfigured hook)."""
    return {"backend": backend} if queue is None else {"backend": backend, "queue": metric_tag_value(queue)}

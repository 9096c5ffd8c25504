"""
Whether a Redis keeps an acknowledged announcement across a restart, from what ``RedisQueueHook.queue_status`` reads.

The producer records a receipt in the registry as Redis acknowledges the push. A Redis without an append-only
file (``appendonly no``; RDB snapshots alone) loses every write since its last snapshot when it restarts, and with
``appendfsync no`` the AOF reaches the disk only when the OS flushes it: in both cases the registry says "published"
for a message that no longer exists, and reconciliation skips it. This cannot be fixed from the producer, so it is
reported as a warning on the queue's status (and so on the health endpoint).

What is read: ``INFO persistence`` (``aof_enabled``; the producer ACL needs ``+info``), and ``CONFIG GET append*``
(``appendonly``, ``appendfsync``) where the connection may run it. ``CONFIG GET`` is not in the documented producer
ACL, because it also reads ``requirepass``; without it, AOF on counts as persistent (ElastiCache, which refuses
``CONFIG``, runs AOF with ``appendfsync everysec``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_hokusai.utils.redaction import describe

__all__ = ["APPENDFSYNC_NO", "APPENDONLY_OFF", "CONFIG_PATTERN", "persistence_warning"]

#: Read in the status pipeline: a pattern, so that Redis 6 (one parameter per CONFIG GET) answers both.
CONFIG_PATTERN = "append*"
APPENDONLY_OFF = (
    "persistence off (appendonly no): a restart or failover of this Redis loses acknowledged announcements while "
    "the registry records them as published; enable appendonly with appendfsync always (docs/deployment.md), "
    "and replay lost versions as docs/runbook.md says"
)
APPENDFSYNC_NO = (
    "persistence weak (appendfsync no): the append-only file reaches the disk only when the OS flushes it, so a host "
    "crash loses acknowledged announcements the registry records as published; use appendfsync always "
    "(docs/deployment.md), and replay lost versions as docs/runbook.md says"
)


def _flag(value: Any) -> str | None:
    if value is None or isinstance(value, Exception):
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text.strip().lower()


def _aof_enabled(info: Any, config: Any) -> bool | None:
    """AOF on or off from INFO (``aof_enabled``) or CONFIG (``appendonly``); None when neither could be read."""
    if isinstance(info, Mapping) and "aof_enabled" in info:
        return _flag(info["aof_enabled"]) in ("1", "yes")
    if isinstance(config, Mapping) and "appendonly" in config:
        return _flag(config["appendonly"]) == "yes"
    return None


def persistence_warning(info: Any, config: Any) -> str | None:
    """
    The warning for a server's persistence, or None when it keeps acknowledged writes across a restart.

    :param info: The parsed reply of ``INFO persistence``, or the error the server answered (e.g. ACL refusal).
    :param config: The parsed reply of ``CONFIG GET append*``, or the error the server answered.
    :return: A text without credentials: the server's own refusal is named by its error type and message, which
        carry the ACL user name at most.
    """
    aof = _aof_enabled(info, config)
    if aof is None:
        refusal = info if isinstance(info, Exception) else config
        reason = describe(refusal) if isinstance(refusal, Exception) else "no aof_enabled in INFO"
        return (
            f"persistence unknown: INFO persistence could not be read ({reason}); grant the producer +info "
            "(docs/deployment.md) so that a Redis that loses acknowledged announcements on restart is reported"
        )
    if not aof:
        return APPENDONLY_OFF
    if isinstance(config, Mapping) and _flag(config.get("appendfsync")) == "no":
        return APPENDFSYNC_NO
    return None

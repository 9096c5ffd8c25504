"""Reconciliation: find the versions whose announcement is still owed, through the pending index, and announce them.

The index is the ``hokusai_announcement_status`` tag: ``pending`` from registration until the receipt, ``failed``
after a failed attempt. Reconciliation searches those two values only, a page at a time, so its cost follows the
number of versions owed an announcement, not the size of the registry. Registries from before the index are
marked once with :func:`backfill_pending` (``hokusai-reconcile --backfill``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer, VersionRef
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from airflow_provider_hokusai.registry.search import search_pages
from airflow_provider_hokusai.registry.syntax import filter_literal
from airflow_provider_hokusai.utils.compat import Stats
from airflow_provider_hokusai.utils.metrics import (
    RECONCILE_FAILED,
    RECONCILE_FOUND,
    RECONCILE_PUBLISHED,
    RECONCILE_TRUNCATED,
)

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["backfill_pending", "find_unannounced", "reconcile"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Unannounced:
    """The versions owed an announcement, as one bounded search went."""

    refs: list[VersionRef]
    #: True when the bound stopped the search with more versions left to look at.
    truncated: bool
    #: Versions still indexed pending or failed that hold a receipt, with their tags: announced, their status stale.
    settled: list[tuple[VersionRef, dict[str, str]]] = field(default_factory=list)


def _status_filter(status: str, registered_model_name: str | None) -> str:
    found = f"tags.`{t.ANNOUNCEMENT_STATUS}` = '{status}'"
    if registered_model_name:
        found += f" AND name = {filter_literal(registered_model_name, 'registered_model_name')}"
    return found


def find_unannounced(
    hook: MLflowHook, registered_model_name: str | None = None, max_versions: int = 1000
) -> _Unannounced:
    """
    Versions marked pending or failed that hold no receipt, oldest first, at most ``max_versions`` of them.

    :param registered_model_name: Only this registered model (any name, quotes included).
    :raises RegistryUnavailableError: the registry could not be searched.
    """
    owed = _Unannounced([], truncated=False)
    for status in t.UNANNOUNCED_STATUSES:
        for page in search_pages(hook, _status_filter(status, registered_model_name)):
            for version in page:
                ref = VersionRef(model_name=str(version.name), model_version=str(version.version))
                if receipt_from_tags(version.tags or {}) is not None:
                    # A crash between the receipt and the status, or a failure recorded after the receipt (a race):
                    # announced all the same.
                    owed.settled.append((ref, dict(version.tags or {})))
                    continue
                if len(owed.refs) == max_versions:
                    return replace(owed, truncated=True)
                owed.refs.append(ref)
    return owed


def reconcile(
    announcer: ModelReadyAnnouncer, registered_model_name: str | None = None, max_versions: int = 1000
) -> dict[str, Any]:
    """
    Announce every version owed an announcement (at most ``max_versions``); a JSON-serializable summary.

    ``truncated`` says the bound was hit with versions left over; the next run continues with them. ``settled``
    counts the versions found announced (a receipt) under a stale status, now marked published.
    """
    owed = find_unannounced(announcer.mlflow_hook, registered_model_name, max_versions)
    settled = sum(announcer.settle_status(ref, version_tags) for ref, version_tags in owed.settled)
    results = announcer.announce_many(owed.refs)
    published = [r.to_dict() for r in results if r.outcome == "published"]
    failed = [r.to_dict() for r in results if r.outcome == "failed"]
    Stats.incr(RECONCILE_FOUND, len(owed.refs))
    Stats.incr(RECONCILE_PUBLISHED, len(published))
    Stats.incr(RECONCILE_FAILED, len(failed))
    if owed.truncated:
        Stats.incr(RECONCILE_TRUNCATED)
        log.warning("Reconciliation stopped at max_versions=%s; more versions are owed an announcement", max_versions)
    summary = {"found": len(owed.refs), "published": len(published), "failed": failed, "results": published}
    return summary | {"truncated": owed.truncated, "settled": settled}


def backfill_pending(hook: MLflowHook, registered_model_name: str | None = None) -> int:
    """
    Mark pending every validated version that has neither a receipt nor an announcement status (registries from
    before the pending index); returns how many were marked. Safe to run again: marked versions are left alone.
    """
    validated = f"tags.`{t.STATUS}` = '{t.STATUS_VALIDATED}'"
    if registered_model_name:
        validated += f" AND name = {filter_literal(registered_model_name, 'registered_model_name')}"
    marked = 0
    for page in search_pages(hook, validated):
        for version in page:
            tags = version.tags or {}
            if tags.get(t.ANNOUNCEMENT_STATUS) or receipt_from_tags(tags) is not None:
                continue
            hook.set_model_version_tags(version.name, version.version, {t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_PENDING})
            marked += 1
    return marked

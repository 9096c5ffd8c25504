"""
What the Hokusai page in the Airflow UI shows about model versions: pure functions from registry tags to rows.

The page never loads the registry whole. A query (:class:`VersionQuery`) becomes one MLflow search page
(:func:`search_filter`, :data:`ORDER_BY`, ``max_results`` + ``page_token``): the announcement filters ``pending``
and ``failed`` read the pending index reconciliation reads (tag ``hokusai_announcement_status``), ``published``
the same tag, and ``all`` pages through the registry (or one registered model) with MLflow's own paging. Each
version becomes a :func:`version_row`: the validation evidence, the announcement status and its receipt or failure
reason, as the tags of :mod:`airflow_provider_hokusai.registry.tags` record them; free texts pass through
:func:`~airflow_provider_hokusai.utils.redaction.redact_text`.

No I/O here: :mod:`airflow_provider_hokusai.plugins.ui_reader` reads the pages, the ``/hokusai/ui`` app
(:mod:`airflow_provider_hokusai.plugins._ui_app`) serves them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.entities import RegistryVersion
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from airflow_provider_hokusai.registry.syntax import name_condition
from airflow_provider_hokusai.utils.redaction import redact_text

__all__ = [
    "ORDER_BY",
    "VersionPage",
    "VersionQuery",
    "only_model",
    "page_body",
    "search_filter",
    "task_path",
    "version_row",
]

#: Newest first; name and version break ties so that MLflow's offset page tokens are stable.
ORDER_BY = ("creation_timestamp DESC", "name ASC", "version_number DESC")
_DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100  # 200 rows took ~650 ms at 10,000 versions on the 2-core machine, over the 500 ms goal
_MAX_TEXT_CHARS = 1000
#: Largest offset a page token may carry: far past any registry; past 64 bits MLflow's SQL stores answer 500.
_MAX_PAGE_OFFSET = 2**31 - 1

StatusFilter = Literal["all", "pending", "failed", "published"]
#: Announcement states a row shows.
ANNOUNCED, PENDING, FAILED, NOT_OWED = "announced", "pending", "failed", "not owed"
#: Validation states a row shows.
VALIDATED, VALIDATION_FAILED, NOT_VALIDATED = "validated", "failed", "not validated"

_INDEXED = {"pending": t.ANNOUNCEMENT_PENDING, "failed": t.ANNOUNCEMENT_FAILED, "published": t.ANNOUNCEMENT_PUBLISHED}


class VersionQuery(BaseModel):
    """
    One page of the version list, as the page asks for it.

    :param model: Only this registered model (exact name); None for every model.
    :param status: ``all``, or an announcement status read through the ``hokusai_announcement_status`` index.
    :param page_size: Versions per page, 1 to :data:`MAX_PAGE_SIZE`.
    :param page_token: MLflow's token of the page to read (from the previous answer); None for the first page.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(None, min_length=1, max_length=500)
    status: StatusFilter = "all"
    page_size: int = Field(_DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: str | None = Field(None, min_length=1, max_length=2000)

    @field_validator("model", "page_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("page_token")
    @classmethod
    def _mlflow_token(cls, value: str | None) -> str | None:
        # MLflow's server answers some malformed tokens with a 500, which would read as an outage: the token is read
        # here with the parser MLflow's own stores read it with, and its offset bounded.
        if value is None:
            return None
        from mlflow.utils.search_utils import SearchUtils

        try:
            offset = SearchUtils.parse_start_offset_from_page_token(value)
        except Exception:
            raise ValueError("is not a page token MLflow gave") from None
        if not 0 < offset <= _MAX_PAGE_OFFSET:
            raise ValueError(f"must point at most {_MAX_PAGE_OFFSET} versions in")
        return value


def search_filter(query: VersionQuery) -> str:
    """The MLflow ``search_model_versions`` filter string of ``query`` (names quoted the way MLflow parses them)."""
    clauses = []
    if query.status != "all":
        clauses.append(f"tags.`{t.ANNOUNCEMENT_STATUS}` = '{_INDEXED[query.status]}'")
    if query.model:
        clauses.append(name_condition(query.model))
    return " AND ".join(clauses)


@dataclass(frozen=True)
class VersionPage:
    """One search page and the token of the next one (None on the last page)."""

    versions: list[RegistryVersion]
    next_page_token: str | None


def only_model(query: VersionQuery, page: VersionPage) -> VersionPage:
    """
    ``page`` without the versions of other models than ``query.model``: :func:`search_filter` may have searched a
    superset (a name no filter literal can hold). The next page's token stays MLflow's, so paging goes on.
    """
    if query.model is None:
        return page
    return VersionPage([v for v in page.versions if v.name == query.model], page.next_page_token)


def _text(value: str | None) -> str | None:
    return redact_text(value, _MAX_TEXT_CHARS) if value else None


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _validation_status(version_tags: Mapping[str, str]) -> str:
    """``validated``, ``failed`` (missed its baseline on the registry-event path) or ``not validated``."""
    status = version_tags.get(t.STATUS)
    if status == t.STATUS_VALIDATED:
        return VALIDATED
    return VALIDATION_FAILED if status == t.STATUS_FAILED else NOT_VALIDATED


def _announcement_status(version_tags: Mapping[str, str]) -> str:
    """
    ``announced`` when a complete receipt is there (whatever the status tag reads, as for reconciliation), else
    ``pending`` / ``failed`` from the pending index, else ``not owed`` (never validated, or before the index).
    """
    if receipt_from_tags(version_tags) is not None:
        return ANNOUNCED
    status = version_tags.get(t.ANNOUNCEMENT_STATUS)
    if status == t.ANNOUNCEMENT_FAILED:
        return FAILED
    return PENDING if status == t.ANNOUNCEMENT_PENDING else NOT_OWED


def _iso_time(millis: int | None) -> str | None:
    """MLflow's epoch milliseconds as ISO 8601 UTC (``...Z``)."""
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def task_path(version_tags: Mapping[str, str]) -> str | None:
    """
    The Airflow UI path of the task instance that registered the version (``/dags/<dag>/runs/<run>/tasks/<task>``),
    when the version carries its ``hokusai_airflow_*`` tags; None otherwise.
    """
    parts = [version_tags.get(key) for key in (t.AIRFLOW_DAG_ID, t.AIRFLOW_RUN_ID, t.AIRFLOW_TASK_ID)]
    if not all(parts):
        return None
    dag_id, run_id, task_id = (quote(str(part), safe="") for part in parts)
    return f"/dags/{dag_id}/runs/{run_id}/tasks/{task_id}"


def version_row(version: RegistryVersion, mlflow_url: Callable[[str, str], str | None]) -> dict[str, Any]:
    """
    The page's row of one version; JSON-serializable.

    :param mlflow_url: ``(name, version) -> link`` into the MLflow UI, or None (``MLflowHook.model_version_url``).
    """
    tags = version.tags
    announcement = _announcement_status(tags)
    validation = _validation_status(tags)
    failure = tags.get(t.ANNOUNCEMENT_ERROR) if announcement in (FAILED, PENDING) else None
    return {
        "model": version.name,
        "version": version.version,
        "created_at": _iso_time(version.creation_timestamp),
        "token_symbol": tags.get(t.TOKEN_ID) or None,
        "metric": tags.get(t.BENCHMARK_METRIC) or None,
        "direction": tags.get(t.DIRECTION) or None,
        "baseline": _number(tags.get(t.BENCHMARK_VALUE)),
        "current": _number(tags.get(t.CURRENT_VALUE)),
        "improvement_percentage": _number(tags.get(t.IMPROVEMENT_PERCENTAGE)),
        "validation": validation,
        "validation_error": _text(tags.get(t.VALIDATION_ERROR)) if validation == VALIDATION_FAILED else None,
        "announcement": announcement,
        "receipt": receipt_from_tags(tags),
        "failure_reason": _text(failure),
        # Only a validated version can be announced; retrying anything else would fail the same way.
        "retryable": announcement in (FAILED, PENDING) and validation == VALIDATED,
        "mlflow_url": mlflow_url(version.name, version.version),
        "task_path": task_path(tags),
        "run_id": version.run_id,
    }


def page_body(query: VersionQuery, page: VersionPage, mlflow_url: Callable[[str, str], str | None]) -> dict[str, Any]:
    """The data endpoint's answer for ``query``: its rows, the next page's token and the query as understood."""
    return {
        "query": query.model_dump(exclude={"page_token"}),
        "versions": [version_row(version, mlflow_url) for version in page.versions],
        "next_page_token": page.next_page_token,
    }

"""Paged searches of the model registry: every page of a filter, with one typed error when MLflow cannot answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.registry.errors import unavailable

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["PAGE_SIZE", "search_pages"]

#: Versions asked for per search request (MLflow's own maximum is larger; this keeps one answer small).
PAGE_SIZE = 500


def search_pages(hook: MLflowHook, filter_string: str) -> Iterator[list[Any]]:
    """Every page of the versions matching ``filter_string``; :class:`RegistryUnavailableError` when unreachable."""
    token: str | None = None
    while True:
        try:
            page = hook.search_model_versions(filter_string, max_results=PAGE_SIZE, page_token=token)
        except Exception as exc:
            raise unavailable(exc, "search the MLflow registry") from None
        yield list(page)
        token = getattr(page, "token", None)
        if not token:
            return

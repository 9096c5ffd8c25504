"""
Bounded reads of the MLflow model registry for pages a person waits on (the Hokusai page in the Airflow UI).

``MlflowClient`` retries a failing call for about four minutes; a page must say "MLflow is unreachable" within
seconds. Against an http(s) registry, :class:`RegistryReader` therefore calls MLflow's REST API itself, once, with
no retry and a capped timeout, with the connection's credentials (as the hook's stores carry them); local stores
(sqlite, file) are read through the hook's stores, which do no network I/O. Errors come out as
:class:`~airflow_provider_hokusai.exceptions.RegistryUnavailableError` whose text names the registry's host and
the error type, never its credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.exceptions import HokusaiError, RegistryUnavailableError
from airflow_provider_hokusai.plugins.ui_rows import VersionPage
from airflow_provider_hokusai.registry.connection import is_remote, redact_uri
from airflow_provider_hokusai.registry.entities import RegistryVersion
from airflow_provider_hokusai.registry.rest import rest_call
from airflow_provider_hokusai.utils.redaction import describe

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["CALL_TIMEOUT_SECONDS", "RegistryReader"]

#: Upper bound of one registry call made for a page, in seconds.
CALL_TIMEOUT_SECONDS = 10.0
_VERSIONS_SEARCH = "/api/2.0/mlflow/model-versions/search"
_MODELS_SEARCH = "/api/2.0/mlflow/registered-models/search"


class RegistryReader:
    """
    One page of model versions or registered model names at a time, in bounded time.

    :param hook: The MLflow connection's hook (its settings, credentials and, for local stores, its stores).
    :param timeout: Upper bound of one call, in seconds.
    """

    def __init__(self, hook: MLflowHook, timeout: float = CALL_TIMEOUT_SECONDS) -> None:
        self.hook = hook
        self.timeout = timeout

    @property
    def remote(self) -> bool:
        """Whether the registry is reached over http(s)."""
        return is_remote(self.hook.registry_uri)

    def search_versions(
        self, filter_string: str, max_results: int, page_token: str | None, order_by: Sequence[str]
    ) -> VersionPage:
        """
        One page of the versions matching ``filter_string`` in ``order_by`` order.

        :raises RegistryUnavailableError: the registry could not be read (or refused the query).
        """
        if self.remote:
            params: dict[str, Any] = {"filter": filter_string, "max_results": max_results, "order_by": list(order_by)}
            if page_token:
                params["page_token"] = page_token
            body = self._get(_VERSIONS_SEARCH, params)
            versions = [RegistryVersion.of(item) for item in body.get("model_versions") or []]
            return VersionPage(versions, body.get("next_page_token") or None)
        found = self._local(
            lambda hook: hook.search_model_versions(
                filter_string, max_results=max_results, page_token=page_token, order_by=order_by
            )
        )
        return VersionPage([RegistryVersion.of(v) for v in found], getattr(found, "token", None) or None)

    def model_names(self, max_results: int = 200) -> list[str]:
        """
        The names of the first ``max_results`` registered models, by name.

        :raises RegistryUnavailableError: the registry could not be read.
        """
        order_by = ["name ASC"]
        if self.remote:
            body = self._get(_MODELS_SEARCH, {"max_results": max_results, "order_by": order_by})
            return [str(model.get("name")) for model in body.get("registered_models") or []]
        found = self._local(lambda hook: hook.search_registered_models(max_results=max_results, order_by=order_by))
        return [str(model.name) for model in found]

    def _where(self) -> str:
        return redact_uri(self.hook.registry_uri)

    def _unavailable(self, exc: BaseException) -> RegistryUnavailableError:
        return RegistryUnavailableError(f"could not read the MLflow registry at {self._where()} ({describe(exc)})")

    def _local(self, call: Any) -> Any:
        try:
            return call(self.hook)
        except HokusaiError:
            raise
        except Exception as exc:
            raise self._unavailable(exc) from None

    def _get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            body = rest_call(self.hook.settings, self.hook.registry_uri, endpoint, "GET", self.timeout, params=params)
        except HokusaiError:
            raise
        except Exception as exc:
            raise self._unavailable(exc) from None
        return body if isinstance(body, dict) else {}

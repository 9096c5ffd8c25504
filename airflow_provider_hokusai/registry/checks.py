"""
The MLflow connection test, in bounded time: what the UI's Test button and ``hokusai-reconcile --check`` run.

Over http(s), MLflow's REST calls are made directly with no retry and a capped timeout (the ``MlflowClient`` retries
for about 245 s by default), with the connection's credentials; local stores (sqlite, file) go through the hook's
stores, which do no network I/O. Nothing process-wide is changed (no ``MLFLOW_HTTP_*`` variable is set).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from airflow_provider_hokusai.registry.connection import is_remote
from airflow_provider_hokusai.registry.rest import rest_call

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["MLFLOW_BUDGET_SECONDS", "probe_mlflow"]

#: Upper bound of an MLflow test's two REST calls together; the second gets what the first left (at least 1 s), so
#: a server slow to answer its first search (just started, busy) is not reported unusable for it.
MLFLOW_BUDGET_SECONDS = 13.0

_EXPERIMENTS_SEARCH = "/api/2.0/mlflow/experiments/search"
_REGISTERED_MODELS_SEARCH = "/api/2.0/mlflow/registered-models/search"


def probe_mlflow(hook: MLflowHook) -> None:
    """
    One small search on the tracking server and one on the model registry, each once, both within
    :data:`MLFLOW_BUDGET_SECONDS`.

    :raises Exception: the first call that failed (MLflow's, requests' or the hook's own error).
    """
    # The budget counts from here: what an admin pressing Test waits for includes reading the connection and
    # importing MLflow's client on the first test of a process.
    deadline = time.monotonic() + MLFLOW_BUDGET_SECONDS
    settings = hook.settings
    budget = MLFLOW_BUDGET_SECONDS
    if is_remote(settings.tracking_uri):
        rest_call(
            settings,
            settings.tracking_uri,
            _EXPERIMENTS_SEARCH,
            "POST",
            budget,
            deadline=deadline,
            json={"max_results": 1},
        )
    else:
        hook.search_experiments(max_results=1)
    if is_remote(settings.registry_uri):
        params = {"max_results": 1}
        rest_call(
            settings, settings.registry_uri, _REGISTERED_MODELS_SEARCH, "GET", budget, deadline=deadline, params=params
        )
    else:
        hook.search_registered_models(max_results=1)

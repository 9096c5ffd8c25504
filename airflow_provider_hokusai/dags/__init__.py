"""The provider's own DAGs; a DAGs-folder file ``from airflow_provider_hokusai.dags import *`` deploys all four."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "hokusai_announce_only",
    "hokusai_reconcile_announcements",
    "hokusai_registry_discovery",
    "hokusai_registry_events",
]

# Each public name: the module of its factory, and the factory. A DAG is built when its name is read (here, by a DAG
# file's star import): a fresh object for each parse, as when the DAG processor or a task runner executes a DAG file,
# and importing one factory's module builds no DAG.
_FACTORIES = {
    "hokusai_announce_only": ("announce_only", "announce_only_dag"),
    "hokusai_reconcile_announcements": ("reconcile", "reconcile_announcements_dag"),
    "hokusai_registry_discovery": ("registry_discovery", "registry_discovery_dag"),
    "hokusai_registry_events": ("registry_events", "registry_events_dag"),
}


def __getattr__(name: str) -> Any:
    if name not in _FACTORIES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, factory = _FACTORIES[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), factory)()

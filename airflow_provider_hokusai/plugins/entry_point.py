"""
The ``airflow.plugins`` entry point of the distribution: the Hokusai plugin under Airflow's default configuration.

Airflow reads plugins from two places of an installed provider: the ``airflow.plugins`` entry point, always, and the
``plugins`` of ``get_provider_info``, only with ``[core] lazy_discover_providers = False``. With both, Airflow 3.3's
plugins manager keeps the first by name but records the second as a plugin import error ("Plugin 'hokusai' already
registered, skipping", shown on the UI's dashboard), and the Task SDK's stops registering the plugins that follow it.
So the entry point yields :class:`~airflow_provider_hokusai.plugins.plugin.HokusaiPlugin` only when providers are
discovered lazily (the default), and nothing otherwise, when the provider's own ``plugins`` entry loads it: one
plugin either way, no error.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HokusaiPlugin", "entry_point_plugin"]


def entry_point_plugin() -> type[Any] | None:
    """
    The plugin class the entry point hands to Airflow's plugins manager.

    :return: ``HokusaiPlugin`` when Airflow discovers providers lazily (``airflow.settings.LAZY_LOAD_PROVIDERS``, the
        value the plugins manager itself reads); ``None``, which the plugins manager skips as not a plugin, when it
        loads the provider's ``plugins`` entry instead.
    """
    from airflow import settings

    if not getattr(settings, "LAZY_LOAD_PROVIDERS", True):
        return None
    from airflow_provider_hokusai.plugins.plugin import HokusaiPlugin as plugin

    return plugin


#: What ``[project.entry-points."airflow.plugins"] hokusai`` names; read when Airflow loads entry-point plugins.
HokusaiPlugin = entry_point_plugin()

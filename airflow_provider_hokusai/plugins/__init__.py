"""Airflow plugins shipped with the Hokusai provider (registered through ``get_provider_info()["plugins"]``)."""

from __future__ import annotations

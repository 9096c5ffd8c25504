"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_hokusai import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        # Must equal the distribution name, or every `airflow` command fails to load providers.
        "package-name": "airflow-provider-hokusai",
        "name": "Hokusai",
        "description": "Baseline gates, MLflow registration and model_ready_to_deploy announcements for Hokusai.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Hokusai",
                "external-doc-url": "https://hokusai.ai",
                "tags": ["ml"],
            },
        ],
        "hooks": [],
        "connection-types": [],
        "operators": [],
        "sensors": [],
        "triggers": [],
        "extra-links": [],
        "plugins": [],
        "config": {},
    }

"""
The Airflow names whose public home moved between the supported minors (docs/compatibility.md).

Airflow 3.2 moved them under ``airflow.sdk``; Airflow 3.1 has them only at their older public paths, which 3.2+
still serves with a deprecation warning. Each is taken from the new path first, so 3.2+ never touches the old one.
Everything else the provider imports from Airflow has the same public path in every supported minor.
"""

from __future__ import annotations

try:  # Airflow >= 3.2
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
    from airflow.sdk.observability.stats import Stats
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf
    from airflow.exceptions import AirflowFailException, AirflowNotFoundException  # type: ignore[no-redef]
    from airflow.plugins_manager import AirflowPlugin  # type: ignore[assignment]
    from airflow.stats import Stats

__all__ = ["AirflowFailException", "AirflowNotFoundException", "AirflowPlugin", "Stats", "conf"]

"""Airflow connections as the provider reads them: where a task reads them, with a typed error when one is missing."""

from __future__ import annotations

from typing import Any

from airflow_provider_hokusai.exceptions import InvalidConfigurationError

__all__ = ["connection"]


def connection(conn_id: str, field: str, subject: str) -> Any:
    """
    The Airflow connection ``conn_id``, as hooks see it (env vars, secrets backends, the metadata DB in a task).

    :param field: The argument or extra that named it, for the error.
    :param subject: What the connection configures, for the error (``"queue configuration"``).
    :raises InvalidConfigurationError: no such connection (permanent: retrying cannot define it).
    """
    from airflow.sdk import BaseHook

    from airflow_provider_hokusai.utils.compat import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise InvalidConfigurationError([(field, f"connection {conn_id!r} is not defined")], subject=subject) from None

"""MLflow's own syntaxes, as the provider reads and writes them: registrable model URIs and filter-string literals.

Pure functions, no I/O; the MLflow hook, the registration operator, reconciliation and the Hokusai page use them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from airflow_provider_hokusai.exceptions import InvalidInputError

__all__ = [
    "LOGGED_MODEL_URI",
    "PLAIN_RUN_ID",
    "RUNS_URI",
    "ModelSource",
    "filter_literal",
    "name_condition",
    "parse_model_uri",
    "runs_filter",
]

RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)/(?P<path>.+)$")
#: A run id a runs filter can quote as it is (MLflow's own are 32 hex digits); others are read one by one.
PLAIN_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOGGED_MODEL_URI = re.compile(r"^models:/(?P<model_id>m-[A-Za-z0-9]+)/?$")


def parse_model_uri(model_uri: str) -> tuple[str | None, str | None]:
    """
    Split a registrable model URI into ``(run_id, logged_model_id)``.

    :param model_uri: ``runs:/<run_id>/<artifact path>`` or ``models:/m-<id>`` (an MLflow 3 logged model).
    :raises InvalidInputError: for any other form.
    """
    if isinstance(model_uri, str):
        if match := RUNS_URI.match(model_uri):
            return match["run_id"], None
        if match := LOGGED_MODEL_URI.match(model_uri):
            return None, match["model_id"]
    raise InvalidInputError(
        [("model_uri", f"must be 'runs:/<run_id>/<path>' or 'models:/m-<id>', got {model_uri!r}")],
        subject="model registration input",
    )


@dataclass(frozen=True)
class ModelSource:
    """Where a model version comes from, resolved the way ``mlflow.register_model`` does it."""

    source: str
    run_id: str | None
    logged_model_id: str | None


def filter_literal(value: str, field: str = "registered_model_name") -> str:
    """
    ``value`` as an MLflow filter-string literal; MLflow strips the quotes and has no escape, only their choice.

    :raises InvalidInputError: ``value`` holds both quote characters, so no literal can hold it.
    """
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise InvalidInputError([(field, "must not contain both ' and \"")], subject="model registration input")


def name_condition(name: str) -> str:
    """
    A filter-string condition on the registered model's ``name`` that matches ``name``.

    ``name = <literal>`` when a literal can hold ``name``. A name holding both quote characters (MLflow accepts
    those) has no literal, so it becomes ``name LIKE`` a pattern with each ``'`` and ``\\`` as the one-character
    wildcard ``_``: a superset of the name (``_`` and ``%`` in it match more too), which the caller narrows to the exact
    name on what comes back.
    """
    if "'" in name and '"' in name:
        # "\\" goes too: it is LIKE's escape character on PostgreSQL, and it would escape the closing quote.
        return "name LIKE '" + name.replace("\\", "_").replace("'", "_") + "'"
    return f"name = {filter_literal(name)}"


def runs_filter(run_ids: Iterable[str], excluded_statuses: Iterable[str] = ()) -> str:
    """
    The runs filter matching ``run_ids`` (each a :data:`PLAIN_RUN_ID`) whose status is none of ``excluded_statuses``:
    MLflow's ``IN`` takes lists for ``run_id`` only, so the statuses become ``!=`` conditions.
    """
    ids = ", ".join(f"'{run_id}'" for run_id in run_ids)
    return " AND ".join([f"attributes.run_id IN ({ids})", *(f"attributes.status != '{s}'" for s in excluded_statuses)])

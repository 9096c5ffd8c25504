"""
The compatibility matrix runs on its own (``make test-matrix``, also run by ``.ci/run`` after ``make test-install``):
one fresh virtualenv per cell of :data:`hokusai_testkit.matrix.CELLS`, one cell at a time. ``make test`` collects it
and reports it skipped.
"""

from __future__ import annotations

import os

import pytest

RUN_VARIABLE = "HOKUSAI_MATRIX_TEST"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the matrix tests unless ``HOKUSAI_MATRIX_TEST=1`` (set by ``make test-matrix``)."""
    if os.environ.get(RUN_VARIABLE) == "1":
        return
    skip = pytest.mark.skip(reason=f"compatibility matrix: run with make test-matrix ({RUN_VARIABLE}=1)")
    for item in items:
        if item.get_closest_marker("matrix"):
            item.add_marker(skip)

"""
The compatibility matrix runs on its own (``make test-matrix``, also run by ``.ci/run`` after ``make test-install``):
one fresh virtualenv per cell of :data:`hokusai_testkit.matrix.CELLS`, one cell at a time. ``make test`` collects it
and reports it skipped.
"""

from __future__ import annotations

import pytest

from tests.gated import skip_unless_enabled

RUN_VARIABLE = "HOKUSAI_MATRIX_TEST"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the matrix tests unless ``HOKUSAI_MATRIX_TEST=1`` (set by ``make test-matrix``)."""
    skip_unless_enabled(
        items, marker="matrix", variable=RUN_VARIABLE, what="compatibility matrix", target="test-matrix"
    )

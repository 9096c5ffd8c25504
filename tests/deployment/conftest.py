"""
The real-deployment system test runs on its own (``make test-deployment``, also run by ``.ci/run`` after
``make test``): it takes minutes and the machine's PostgreSQL. ``make test`` collects it and reports it skipped.
"""

from __future__ import annotations

import os

import pytest

RUN_VARIABLE = "HOKUSAI_DEPLOYMENT_TEST"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the deployment tests unless ``HOKUSAI_DEPLOYMENT_TEST=1`` (set by ``make test-deployment``)."""
    if os.environ.get(RUN_VARIABLE) == "1":
        return
    skip = pytest.mark.skip(reason=f"real deployment: run with make test-deployment ({RUN_VARIABLE}=1)")
    for item in items:
        if item.get_closest_marker("deployment"):
            item.add_marker(skip)

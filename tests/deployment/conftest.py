"""
The real-deployment system test runs on its own (``make test-deployment``, also run by ``.ci/run`` after
``make test``): it takes minutes and the machine's PostgreSQL. ``make test`` collects it and reports it skipped.
"""

from __future__ import annotations

import pytest

from tests.gated import skip_unless_enabled

RUN_VARIABLE = "HOKUSAI_DEPLOYMENT_TEST"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the deployment tests unless ``HOKUSAI_DEPLOYMENT_TEST=1`` (set by ``make test-deployment``)."""
    skip_unless_enabled(
        items, marker="deployment", variable=RUN_VARIABLE, what="real deployment", target="test-deployment"
    )

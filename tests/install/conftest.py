"""
The clean-install system test runs on its own (``make test-install``, also run by ``.ci/run`` after ``make dist``):
it builds the wheel, installs it into a fresh virtualenv and starts a real deployment from it. ``make test``
collects it and reports it skipped.
"""

from __future__ import annotations

import pytest

from tests.gated import skip_unless_enabled

RUN_VARIABLE = "HOKUSAI_INSTALL_TEST"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the install tests unless ``HOKUSAI_INSTALL_TEST=1`` (set by ``make test-install``)."""
    skip_unless_enabled(items, marker="install", variable=RUN_VARIABLE, what="clean install", target="test-install")

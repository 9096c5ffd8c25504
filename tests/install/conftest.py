"""
The clean-install system test runs on its own (``make test-install``, also run by ``.ci/run`` after ``make dist``):
it builds the wheel, installs it into a fresh virtualenv and starts a real deployment from it. ``make test``
collects it and reports it skipped.
"""

from __future__ import annotations

import os

import pytest

RUN_VARIABLE = "HOKUSAI_INSTALL_TEST"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the install tests unless ``HOKUSAI_INSTALL_TEST=1`` (set by ``make test-install``)."""
    if os.environ.get(RUN_VARIABLE) == "1":
        return
    skip = pytest.mark.skip(reason=f"clean install: run with make test-install ({RUN_VARIABLE}=1)")
    for item in items:
        if item.get_closest_marker("install"):
            item.add_marker(skip)

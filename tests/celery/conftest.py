"""
The CeleryExecutor system test runs on its own (``make test-celery``, also run by ``.ci/run`` after ``make test``): it
takes minutes and the machine's PostgreSQL. ``make test`` collects it and reports it skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

RUN_VARIABLE = "HOKUSAI_CELERY_TEST"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests of this folder unless ``HOKUSAI_CELERY_TEST=1`` (set by ``make test-celery``)."""
    if os.environ.get(RUN_VARIABLE) == "1":
        return
    skip = pytest.mark.skip(reason=f"Celery workers: run with make test-celery ({RUN_VARIABLE}=1)")
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(skip)

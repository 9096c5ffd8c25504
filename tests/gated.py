"""
The suites that run on their own (``make test-install``, ``make test-deployment``, ``make test-matrix``): each
folder's conftest skips its marked tests unless the make target set its variable, so ``make test`` reports them
skipped.
"""

from __future__ import annotations

import os

import pytest


def skip_unless_enabled(items: list[pytest.Item], *, marker: str, variable: str, what: str, target: str) -> None:
    """
    Mark every item carrying ``marker`` skipped unless ``<variable>=1``.

    :param what: What the suite is, for the skip reason.
    :param target: The make target that runs it (and sets ``variable``).
    """
    if os.environ.get(variable) == "1":
        return
    skip = pytest.mark.skip(reason=f"{what}: run with make {target} ({variable}=1)")
    for item in items:
        if item.get_closest_marker(marker):
            item.add_marker(skip)

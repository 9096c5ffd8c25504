"""Bounds on decoded JSON from untrusted senders, checked without recursion (so they cannot hit the recursion limit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["deeper_than"]


def deeper_than(value: Any, limit: int) -> bool:
    """
    Whether ``value`` (decoded JSON: dicts, lists, tuples, scalars) nests arrays and objects more than ``limit`` deep.

    :param value: The decoded value; a scalar has depth 0, ``{}`` and ``[]`` depth 1.
    :param limit: The deepest nesting allowed.
    """
    # Iterative on purpose: a recursive walk would hit the very recursion limit the bound keeps callers away from.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False

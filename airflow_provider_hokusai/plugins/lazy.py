"""The ASGI app every Hokusai plugin mount uses: the real FastAPI app is built on the first request routed to it.

Airflow imports plugin modules in every process that loads plugins (task runners too); deferring FastAPI and each
app's own imports to the API server's first request keeps that import cheap.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import Receive, Scope, Send

__all__ = ["LazyApp"]


class LazyApp:
    """
    ASGI app that builds its FastAPI app once, on its first request.

    :param factory: Builds the real app: a callable, or the ``"module:function"`` path of one, imported on first use.
    """

    def __init__(self, factory: Callable[[], FastAPI] | str) -> None:
        self._factory = factory
        self._app: FastAPI | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> FastAPI:
        """The FastAPI app, built once."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    factory = self._factory
                    if isinstance(factory, str):
                        module, _, name = factory.partition(":")
                        factory = getattr(importlib.import_module(module), name)
                    self._app = factory()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

"""
Servers for the health endpoint tests: a broker that hangs, and the endpoint
itself served by uvicorn on a free loopback port.

The tests stop redis-servers, so they start private ones with ``redis_process_factory`` (tests/fixtures/redis.py).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.fixtures.ports import free_port, wait_for_port

PASSWORD = "hokusai-health-Pa55-9c2e"


@dataclass
class HangingBroker:
    """Accepts TCP connections and never answers, like a wedged broker."""

    port: int
    listener: socket.socket
    accepted: list[socket.socket] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.stopped.set()
        # Closing the accepted sockets ends the checks still blocked on them (their threads then exit).
        for conn in [self.listener, *self.accepted]:
            with contextlib.suppress(OSError):
                conn.close()


@pytest.fixture
def hanging_broker() -> Iterator[HangingBroker]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    broker = HangingBroker(port=listener.getsockname()[1], listener=listener)
    thread = threading.Thread(target=broker.serve, name="hanging-broker", daemon=True)
    thread.start()
    yield broker
    broker.close()
    thread.join(timeout=5)


@dataclass
class HealthServer:
    url: str


@pytest.fixture(scope="module")
def health_server() -> Iterator[HealthServer]:
    """The plugin's app (``HokusaiPlugin.fastapi_apps``), mounted under /hokusai and served by uvicorn in a thread."""
    import uvicorn
    from fastapi import FastAPI

    from airflow_provider_hokusai.plugins.plugin import HokusaiPlugin

    (mount,) = [m for m in HokusaiPlugin.fastapi_apps if m["url_prefix"] == "/hokusai"]
    root = FastAPI()
    # Mounted the way Airflow's API server mounts plugin apps (airflow.api_fastapi.app.init_plugins).
    root.mount(mount["url_prefix"], mount["app"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="health-uvicorn", daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield HealthServer(url=f"http://127.0.0.1:{port}{mount['url_prefix']}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)

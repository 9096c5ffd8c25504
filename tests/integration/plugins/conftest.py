"""
Servers for the health endpoint tests: redis-servers the tests may stop, a broker that hangs, and the endpoint
itself served by uvicorn on a free loopback port.

These redis-servers are private to the tests here (not the shared fixture) because the tests kill them.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.fixtures.ports import free_port, wait_for_port

REDIS_SERVER = "/usr/bin/redis-server"
PASSWORD = "hokusai-health-Pa55-9c2e"


@dataclass
class RedisServer:
    port: int
    password: str | None
    process: subprocess.Popen[bytes]

    def uri(self, password: str | None = None) -> str:
        secret = password if password is not None else self.password
        auth = f":{secret}@" if secret else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_redis(password: str | None = None) -> RedisServer:
    port = free_port()
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    if password:
        args += ["--requirepass", password]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise
    return RedisServer(port=port, password=password, process=process)


@pytest.fixture
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    """Start redis-servers (optionally with ``requirepass``); all are stopped after the test."""
    started: list[RedisServer] = []

    def factory(password: str | None = None) -> RedisServer:
        server = start_redis(password)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


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

    from airflow_provider_hokusai.plugins.health import HokusaiPlugin

    (mount,) = HokusaiPlugin.fastapi_apps
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

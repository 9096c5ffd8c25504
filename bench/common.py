"""Shared pieces of the benchmarks: an isolated Airflow home, servers on free ports, robust statistics."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REDIS_SERVER = "/usr/bin/redis-server"


def isolate_airflow_home() -> Path:
    """A throwaway AIRFLOW_HOME, set before anything imports Airflow (it reads its config at import time)."""
    home = Path(tempfile.mkdtemp(prefix="hokusai-bench-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    return home


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@contextlib.contextmanager
def server(args: Sequence[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process for the duration of the block; always stopped afterwards."""
    process = subprocess.Popen(list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def redis_server(port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return server(args, port)


def moto_server(port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    moto = Path(sys.executable).parent / "moto_server"
    return server([str(moto), "-H", "127.0.0.1", "-p", str(port)], port)


def cleanup(home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)

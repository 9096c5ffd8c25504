"""Loopback ports and server processes: the pieces every server launcher shares."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """
    A TCP port on loopback that nothing listens on right now.

    :return: The port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30.0, host: str = LOOPBACK) -> None:
    """
    Block until something accepts connections on ``host:port``.

    :param port: The TCP port.
    :param timeout: Seconds to wait at most.
    :param host: The address; loopback by default.
    :raises TimeoutError: Nothing accepted a connection within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout}s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """
    Terminate a server process, killing it if it does not exit in time; a no-op when it already ended.

    :param process: The server process.
    :param timeout: Seconds to wait after SIGTERM before SIGKILL.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def stop_process_groups(processes: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """
    SIGTERM each process's group, then SIGKILL what is left after ``timeout`` seconds in all.

    The processes must have been started with ``start_new_session=True``: their children (task processes, API or
    Celery workers) share the group and may outlive its leader.
    """
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

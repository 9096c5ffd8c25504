"""Real ``redis-server`` processes on free loopback ports, which can be killed and restarted on the same port."""

from __future__ import annotations

import json
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from hokusai_testkit.ports import LOOPBACK, free_port, stop_process, wait_for_port

REDIS_SERVER = "/usr/bin/redis-server"


@dataclass
class RedisProcess:
    """
    A redis-server owned by its caller; also a context manager that starts it and stops it.

    :param port: Loopback port to listen on.
    :param password: ``requirepass``, or None for no authentication.
    :param data_dir: With a directory, durable mode: AOF with ``appendfsync always`` (every acknowledged write is
        on disk before the reply); without, nothing is persisted.
    """

    port: int
    password: str | None = None
    data_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def args(self) -> list[str]:
        """The server's command line."""
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", LOOPBACK, "--save", ""]
        if self.data_dir is not None:
            args += ["--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        return args

    def start(self) -> RedisProcess:
        """
        Start the server and wait until it accepts connections.

        :raises TimeoutError: It did not listen within 20 s (the process is killed).
        """
        self.process = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, timeout=20)
        except TimeoutError:
            self.process.kill()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown save, connections drop mid-reply."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is not None:
            stop_process(self.process)

    def restart(self) -> None:
        """Kill the server and start it again on the same port."""
        self.kill()
        self.start()

    def uri(self, password: str | None = None) -> str:
        """``redis://`` URI of this server, with its password or the one given (e.g. a wrong one)."""
        secret = password if password is not None else self.password
        auth = f":{secret}@" if secret else ""
        return f"redis://{auth}{LOOPBACK}:{self.port}/0"

    def client(self) -> Any:
        """A redis-py client of this server (5 s socket timeout)."""
        import redis

        return redis.Redis(host=LOOPBACK, port=self.port, password=self.password, socket_timeout=5)

    def conn_json(self, **extra: Any) -> str:
        """An Airflow ``redis`` connection, as the JSON an ``AIRFLOW_CONN_*`` variable takes."""
        conn: dict[str, Any] = {"conn_type": "redis", "host": LOOPBACK, "port": self.port, "extra": extra}
        if self.password:
            conn["password"] = self.password
        return json.dumps(conn)

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> RedisProcess:
        """Start the server unless it is already running."""
        return self if self.running else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_redis(password: str | None = None, data_dir: Path | None = None) -> RedisProcess:
    """
    A started redis-server on a free loopback port.

    :param password: ``requirepass``, or None.
    :param data_dir: Durable mode's directory, or None.
    """
    return RedisProcess(port=free_port(), password=password, data_dir=data_dir).start()

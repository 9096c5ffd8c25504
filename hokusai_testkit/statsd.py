"""
A StatsD listener on loopback that records what Airflow's StatsD client sends, and an in-memory ``Stats`` backend.

Pointing Airflow at the listener takes the environment of :meth:`StatsdListener.airflow_environment` and, in a
process that already initialized ``Stats``, a re-initialization (the test fixtures do both).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from hokusai_testkit.ports import LOOPBACK

STATSD_PREFIX = "hokusai_it"


@dataclass
class StatsdPacket:
    """One StatsD line: ``name:value|type``; with InfluxDB tagging the name carries ``,key=value`` pairs."""

    name: str
    value: str
    kind: str
    tags: dict[str, str]

    @classmethod
    def parse(cls, line: str) -> StatsdPacket:
        """Parse one line of a datagram."""
        name_part, _, rest = line.partition(":")
        value, _, kind = rest.partition("|")
        name, *pairs = name_part.split(",")
        tags = dict(pair.split("=", 1) for pair in pairs)
        return cls(name=name, value=value, kind=kind.split("|")[0], tags=tags)


@dataclass
class StatsdListener:
    """
    A UDP socket on loopback that collects StatsD packets; also a context manager that closes it.

    :param sock: A bound UDP socket (see :meth:`open`).
    :param prefix: The metric prefix the sender uses.
    """

    sock: socket.socket
    prefix: str = STATSD_PREFIX
    packets: list[StatsdPacket] = field(default_factory=list)

    @classmethod
    def open(cls, prefix: str = STATSD_PREFIX) -> StatsdListener:
        """A listener on a free loopback UDP port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, 0))
        return cls(sock=sock, prefix=prefix)

    @property
    def port(self) -> int:
        """The UDP port it listens on."""
        port: int = self.sock.getsockname()[1]
        return port

    def airflow_environment(self) -> dict[str, str]:
        """The ``[metrics]`` settings, as environment variables, that make Airflow send its metrics here."""
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": LOOPBACK,
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": self.prefix,
        }

    def drain(self, timeout: float = 0.2) -> list[StatsdPacket]:
        """Read every datagram that arrives until the socket stays quiet for ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                return self.packets
            for line in data.decode().splitlines():
                if line:
                    self.packets.append(StatsdPacket.parse(line))

    def wait_for(self, *names: str, timeout: float = 5.0) -> list[StatsdPacket]:
        """
        Packets seen so far once every metric in ``names`` (without the prefix) has arrived.

        :raises AssertionError: One of them did not arrive within ``timeout`` seconds.
        """
        wanted = {f"{self.prefix}.{n}" for n in names}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain(timeout=0.05)
            if wanted <= {p.name for p in self.packets}:
                return self.packets
        missing = sorted(wanted - {p.name for p in self.packets})
        raise AssertionError(f"never received {missing}; got {sorted({p.name for p in self.packets})}")

    def named(self, name: str) -> list[StatsdPacket]:
        """Packets of one metric (``name`` without the prefix), in arrival order."""
        return [p for p in self.packets if p.name == f"{self.prefix}.{name}"]

    def clear(self) -> None:
        """Forget every packet received so far."""
        self.drain(timeout=0.05)
        self.packets.clear()

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def __enter__(self) -> StatsdListener:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


@dataclass
class RecordedMetric:
    """One metric call recorded by :class:`RecordingStatsLogger`."""

    kind: str
    name: str
    value: float
    tags: dict[str, Any]


class RecordingStatsLogger:
    """The part of Airflow's ``StatsLogger`` protocol the provider uses, kept in memory."""

    def __init__(self) -> None:
        self.metrics: list[RecordedMetric] = []

    def incr(self, stat: str, count: int = 1, rate: float = 1, *, tags: dict[str, Any] | None = None) -> None:
        """Record a counter increment."""
        self.metrics.append(RecordedMetric("counter", stat, count, dict(tags or {})))

    def decr(self, stat: str, count: int = 1, rate: float = 1, *, tags: dict[str, Any] | None = None) -> None:
        """Record a counter decrement."""
        self.metrics.append(RecordedMetric("counter", stat, -count, dict(tags or {})))

    def gauge(self, stat: str, value: float, rate: float = 1, delta: bool = False, **kwargs: Any) -> None:
        """Record a gauge."""
        self.metrics.append(RecordedMetric("gauge", stat, value, dict(kwargs.get("tags") or {})))

    def timing(self, stat: str, dt: Any, *, tags: dict[str, Any] | None = None) -> None:
        """Record a timer."""
        self.metrics.append(RecordedMetric("timer", stat, float(dt), dict(tags or {})))

    def named(self, name: str) -> list[RecordedMetric]:
        """The recorded calls of one metric, in order."""
        return [m for m in self.metrics if m.name == name]

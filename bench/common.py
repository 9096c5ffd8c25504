"""Shared pieces of the benchmarks: an isolated Airflow home, servers on free ports, robust statistics."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hokusai_testkit.ports import free_port, wait_for_port
from hokusai_testkit.redis import RedisProcess
from hokusai_testkit.sqs import MotoServer

__all__ = [
    "cleanup",
    "free_port",
    "isolate_airflow_home",
    "median",
    "moto_server",
    "redis_server",
    "wait_for_port",
]


def isolate_airflow_home() -> Path:
    """A throwaway AIRFLOW_HOME, set before anything imports Airflow (it reads its config at import time)."""
    home = Path(tempfile.mkdtemp(prefix="hokusai-bench-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    return home


def redis_server(port: int) -> RedisProcess:
    """A non-persistent redis-server on ``port``, started and stopped by ``with``."""
    return RedisProcess(port=port)


def moto_server(port: int) -> MotoServer:
    """A moto server (SQS API) on ``port``, started and stopped by ``with``."""
    return MotoServer(port=port)


def cleanup(home: Path) -> None:
    """Remove a home made by :func:`isolate_airflow_home`."""
    shutil.rmtree(home, ignore_errors=True)


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)

"""
Test support for airflow-provider-hokusai: real servers on free loopback ports and an in-memory MLflow registry.

Shared by the test suite (``tests/fixtures`` wraps it in pytest fixtures), the benchmarks (``bench``) and
``make demo`` (``scripts``). Nothing here needs pytest, and nothing in the provider's wheel imports it.

* :mod:`hokusai_testkit.ports` — free ports, waiting for a port, stopping a server process;
* :mod:`hokusai_testkit.redis` — ``redis-server`` processes (:class:`~hokusai_testkit.redis.RedisProcess`);
* :mod:`hokusai_testkit.sqs` — a moto server with the SQS API (:class:`~hokusai_testkit.sqs.MotoServer`);
* :mod:`hokusai_testkit.mlflow` — ``mlflow server`` (:func:`~hokusai_testkit.mlflow.running_mlflow_server`) and
  helpers that log runs, models and registered versions;
* :mod:`hokusai_testkit.statsd` — a StatsD listener on loopback and an in-memory ``Stats`` backend;
* :mod:`hokusai_testkit.registry` — :class:`~hokusai_testkit.registry.FakeMLflowRegistry`, the one in-memory fake of
  the MLflow model registry.
"""

from __future__ import annotations

from hokusai_testkit.ports import free_port, stop_process, wait_for_port

__all__ = ["free_port", "stop_process", "wait_for_port"]

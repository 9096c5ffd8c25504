"""Trigger that waits in the triggerer until an MLflow run beats (or fails to beat) its baseline."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidInputError
from airflow_provider_hokusai.gate.baseline import (
    BaselineCheck,
    BaselineCriteria,
    FailureKind,
)
from airflow_provider_hokusai.gate.check import check_baseline
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.triggers._looks import BatchedLooks
from airflow_provider_hokusai.triggers._poller import LookPoller
from airflow_provider_hokusai.utils.validation import validate

__all__ = ["LOOK_THREADS", "MLflowBaselineTrigger"]

#: Threads lent to the looks of every MLflowBaselineTrigger of one triggerer process, together: one look at a time
#: per connection (the gates of a connection share it), so few connections never need more; the event loop's default
#: executor (6 threads on 2 cores) is left to the triggerer and other triggers.
LOOK_THREADS = 8

# Keyed by process id: a forked child has none of its parent's threads and builds its own pool.
_pools: dict[int, ThreadPoolExecutor] = {}
_hooks: dict[str, _SharedHook] = {}


class _SharedHook:
    """
    One connection's hook (its REST clients or MLflow stores) and poller, shared by the triggers of a process that use
    it.
    """

    def __init__(self, mlflow_conn_id: str) -> None:
        self.hook = MLflowHook(mlflow_conn_id=mlflow_conn_id)
        self.users = 0
        self._building = threading.Lock()
        self._poller: LookPoller | None = None

    def ready(self) -> MLflowHook:
        """The hook with its connection read and its clients opened, by one thread while the others wait."""
        with self._building:
            self.hook.connect()  # cached properties: built once
        return self.hook

    def poller(self) -> LookPoller:
        """The connection's poller in the running event loop, created on first use."""
        if self._poller is None or self._poller.loop is not asyncio.get_running_loop():
            self._poller = LookPoller(BatchedLooks(self.ready), _look_pool)
        return self._poller

    def close(self) -> None:
        """Its last trigger has gone: no more looks."""
        if self._poller is not None:
            self._poller.close()


@contextmanager
def _shared_hook(mlflow_conn_id: str) -> Iterator[_SharedHook]:
    """
    The connection's shared hook for as one trigger uses it; it is dropped with its last user, so a changed
    connection is read again by the next trigger. Only the event loop's thread calls this.
    """
    shared = _hooks.get(mlflow_conn_id) or _hooks.setdefault(mlflow_conn_id, _SharedHook(mlflow_conn_id))
    shared.users += 1
    try:
        yield shared
    finally:
        shared.users -= 1
        if not shared.users and _hooks.get(mlflow_conn_id) is shared:
            del _hooks[mlflow_conn_id]
            shared.close()


def _look_pool() -> ThreadPoolExecutor:
    pid = os.getpid()
    if pid not in _pools:
        _pools[pid] = ThreadPoolExecutor(LOOK_THREADS, thread_name_prefix="hokusai-mlflow-look")
    return _pools[pid]


def _in_context(context: contextvars.Context, check: Callable[[MLflowHook], BaselineCheck], hook: MLflowHook) -> Any:
    return context.run(check, hook)


# Nor does a child share its parent's hooks and pollers (their HTTP sessions and threads belong to the parent).
os.register_at_fork(after_in_child=_hooks.clear)


class MLflowBaselineTrigger(BaseTrigger):
    """
    Poll an MLflow run until it is no longer RUNNING/SCHEDULED, then compare its metric with the baseline.

    The triggers of one process waiting on the same connection share one look per poll
    (:class:`~airflow_provider_hokusai.triggers._poller.LookPoller`): one ``runs/search`` request for up to
    :data:`~airflow_provider_hokusai.triggers._looks.RUN_IDS_PER_SEARCH` of their runs, asking only which have ended
    (:class:`~airflow_provider_hokusai.triggers._looks.BatchedLooks`), in a worker thread of a pool of
    :data:`LOOK_THREADS`, so the triggerer's event loop never waits on the network; each trigger is then decided by
    its own check, as when it looks alone. Yields exactly one event, primitives only, with the keys
    ``status``, ``reason``, ``error`` and ``evidence``:

    * ``success``: ``evidence`` is the :class:`~airflow_provider_hokusai.gate.baseline.BaselineEvidence` as a dict;
    * ``failed``: ``error`` is the :class:`~airflow_provider_hokusai.gate.baseline.FailureKind` value (baseline not
      met, run FAILED/KILLED, metric missing, no baseline, invalid input);
    * ``error``: anything unexpected (e.g. the server is unreachable); the sensor lets Airflow retry.

    :param criteria: What the gate is asked: a :class:`~airflow_provider_hokusai.gate.baseline.BaselineCriteria` or its
        ``model_dump(mode="json")``, the form it is serialized in.
    :param mlflow_conn_id: Id of the ``mlflow`` connection.
    :param poll_interval: Pause between looks, in seconds.
    """

    def __init__(
        self,
        *,
        criteria: BaselineCriteria | Mapping[str, Any],
        mlflow_conn_id: str = MLflowHook.default_conn_name,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        if not isinstance(criteria, BaselineCriteria):
            criteria = validate(BaselineCriteria, criteria, InvalidInputError, subject="baseline comparison input")
        self.criteria = criteria
        self.mlflow_conn_id = mlflow_conn_id
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "criteria": self.criteria.model_dump(mode="json"),
                "mlflow_conn_id": self.mlflow_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    def _check(self, hook: MLflowHook) -> BaselineCheck:
        return check_baseline(hook, self.criteria)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        with _shared_hook(self.mlflow_conn_id) as shared:
            async for event in self._events(shared.poller()):
                yield event

    async def _events(self, poller: LookPoller) -> AsyncIterator[TriggerEvent]:
        run_id, due = self.criteria.run_id, 0.0  # the first look: now
        try:
            with poller.member(run_id):
                while True:
                    # The look runs in a worker thread and sees the trigger's context variables, as in to_thread.
                    check = functools.partial(_in_context, contextvars.copy_context(), self._check)
                    outcome, started = await poller.look(run_id, check, self.poll_interval, due)
                    if isinstance(outcome, Exception):
                        raise outcome
                    if outcome.status != "pending":
                        yield TriggerEvent(outcome.event())
                        return
                    self.log.info("Still waiting: %s; next look in %ss", outcome.reason, self.poll_interval)
                    due = started + self.poll_interval
        except HokusaiPermanentError as exc:
            # e.g. an invalid connection: no look will ever succeed, and retrying the task cannot fix it.
            yield TriggerEvent(BaselineCheck("failed", str(exc), failure=FailureKind.INVALID_INPUT).event())
        except Exception as exc:
            self.log.exception("MLflow baseline trigger failed")
            yield TriggerEvent({"status": "error", "reason": f"{type(exc).__name__}: {exc}", "error": None})

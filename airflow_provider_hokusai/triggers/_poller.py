"""
A connection's poller: the gates of one triggerer process that wait on the same MLflow connection share one look per
poll, taken in a worker thread, and each gate is woken with its own outcome.

The poller knows nothing of MLflow: what a look reads and decides is the look function it is given
(:class:`airflow_provider_hokusai.triggers._looks.BatchedLooks` for the baseline trigger), which it calls in a worker
thread with the asks that are due and which yields their outcomes a batch at a time (one search's worth).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

__all__ = ["Ask", "LookFunction", "LookPoller"]


@dataclass(eq=False)
class Ask:
    """
    One gate's request for a look.

    :param run_id: The run the gate waits on, or None when it searches an experiment (its look is its own).
    :param check: Called in the worker thread with what the look function hands it (a hook); returns the outcome.
    :param interval: The gate's poll interval, in seconds.
    :param not_before: The event loop's time (``loop.time()``) the look is due at.
    :param future: Resolved with ``(outcome, start of the look)``; an outcome may be an exception.
    """

    run_id: str | None
    check: Callable[[Any], Any]
    interval: float
    not_before: float
    future: asyncio.Future[tuple[Any, float]]


#: ``look(asks, members)``: the outcome of every ask, in batches; ``members`` are the run ids of the gates still there.
LookFunction = Callable[[Sequence[Ask], frozenset[str]], Iterator[list[tuple[Ask, Any]]]]


class LookPoller:
    """
    Takes the looks of the gates of one connection in one event loop, together.

    A look is taken as soon as the earliest ask is due, and takes along every ask due within half its own interval:
    gates that started at different moments share their looks from their second look on, and a gate's looks are
    half an interval to an interval apart (a gate alone: one interval, as it would on its own). Outcomes reach the
    gates batch by batch, as the look function yields them, so a long look does not hold back its first answers.

    :param look: What a look does with the asks that are due; called in a worker thread.
    :param executor: The pool the looks run on (called once per look, so a forked child may build its own).
    """

    def __init__(self, look: LookFunction, executor: Callable[[], Executor]) -> None:
        self.loop = asyncio.get_running_loop()
        self.looks = 0
        self._look = look
        self._executor = executor
        self._waiting: dict[Ask, None] = {}  # insertion-ordered set
        self._members: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def member(self, run_id: str | None) -> Iterator[None]:
        """A gate waiting on ``run_id`` for as long as the block runs: what the looks remember of it is kept."""
        key = run_id or ""
        self._members[key] += 1
        try:
            yield
        finally:
            self._members[key] -= 1
            if not self._members[key]:
                del self._members[key]

    async def look(
        self, run_id: str | None, check: Callable[[Any], Any], interval: float, not_before: float = 0.0
    ) -> tuple[Any, float]:
        """
        The outcome of the gate's next look, taken at ``not_before`` (``loop.time()``; now when past) or a little
        earlier with other gates, and when that look started (the gate's next is due an interval later).
        """
        ask = Ask(run_id, check, interval, not_before, self.loop.create_future())
        self._waiting[ask] = None
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run(), name="hokusai-look-poller")
        try:
            return await ask.future
        finally:
            # A gate cancelled while it waits: its ask goes, and a look already under way answers no one.
            self._waiting.pop(ask, None)
            ask.future.cancel()

    def close(self) -> None:
        """Stop taking looks (the connection's last gate has gone)."""
        if self._task is not None:
            self._task.cancel()

    def _due(self, now: float) -> list[Ask]:
        if not self._waiting or min(a.not_before for a in self._waiting) > now:
            return []
        due = [a for a in self._waiting if a.not_before - a.interval / 2 <= now]
        for ask in due:
            del self._waiting[ask]
        return due

    async def _run(self) -> None:
        while self._waiting:
            due = self._due(self.loop.time())
            if due:
                await self._take(due)
                continue
            self._wake.clear()
            pause = min(a.not_before for a in self._waiting) - self.loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(pause, 0.0))

    async def _take(self, due: list[Ask]) -> None:
        started = self.loop.time()
        self.looks += 1
        members = frozenset(self._members)

        def deliver(batch: list[tuple[Ask, Any]]) -> None:
            for ask, outcome in batch:
                if not ask.future.done():
                    ask.future.set_result((outcome, started))

        def work() -> None:
            # Runs in the worker thread; each batch is handed to the event loop as soon as it is decided.
            for batch in self._look(due, members):
                self.loop.call_soon_threadsafe(deliver, batch)

        try:
            await self.loop.run_in_executor(self._executor(), work)
        except Exception as exc:
            # The look function failed outside any one gate's check: every gate still waiting hears of it.
            deliver([(ask, exc) for ask in due])

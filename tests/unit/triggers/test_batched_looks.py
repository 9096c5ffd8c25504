"""Batched looks without a server: the poller's schedule (fake look function) and BatchedLooks on fake MLflow stores."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_hokusai.gate.baseline import BaselineCriteria
from airflow_provider_hokusai.gate.check import check_baseline
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.registry.stores import MLflowStores
from airflow_provider_hokusai.registry.syntax import runs_filter
from airflow_provider_hokusai.triggers._looks import RUN_IDS_PER_SEARCH, BatchedLooks, chunks
from airflow_provider_hokusai.triggers._poller import Ask, LookPoller

POOL = ThreadPoolExecutor(2)

# The poller's schedule, with a fake look function.


class FakeLooks:
    """A look function: each ask's outcome is ``"pending"`` until its run's turn; records every look's asks."""

    def __init__(self, decided_after: dict[str, int]) -> None:
        self.decided_after = decided_after  # run id -> looks before it is decided
        self.seen: dict[str, int] = {}
        self.looks: list[list[str | None]] = []

    def __call__(self, asks: Sequence[Ask], members: frozenset[str]) -> Iterator[list[tuple[Ask, Any]]]:
        self.looks.append([a.run_id for a in asks])
        for ask in asks:
            key = str(ask.run_id)
            self.seen[key] = self.seen.get(key, 0) + 1
        half = len(asks) // 2  # two batches, as two searches would give
        for batch in (asks[:half], asks[half:]):
            yield [(a, "decided" if self.seen[str(a.run_id)] > self.decided_after[str(a.run_id)] else "pending")
                   for a in batch]  # fmt: skip


async def gate(poller: LookPoller, run_id: str, interval: float, times: list[float]) -> str:
    """A trigger's loop on the poller: look, and again an interval after the look started, until decided."""
    due = 0.0
    with poller.member(run_id):
        while True:
            outcome, started = await poller.look(run_id, lambda hook: None, interval, due)
            times.append(started)
            if outcome != "pending":
                return str(outcome)
            due = started + interval


def test_gates_that_start_together_share_one_look_per_poll() -> None:
    fake = FakeLooks({f"r{i}": 3 for i in range(200)})

    async def scenario() -> list[str]:
        poller = LookPoller(fake, lambda: POOL)
        times: list[float] = []
        return await asyncio.gather(*(gate(poller, f"r{i}", 0.1, times) for i in range(200)))

    assert asyncio.run(scenario()) == ["decided"] * 200
    assert len(fake.looks) == 4  # three pending looks and the deciding one, for all 200 gates
    assert all(len(look) == 200 for look in fake.looks)


def test_gates_that_start_apart_come_to_share_their_looks() -> None:
    fake = FakeLooks({"early": 6, "late": 6, "later": 6})

    async def scenario() -> dict[str, list[float]]:
        poller = LookPoller(fake, lambda: POOL)
        times: dict[str, list[float]] = {"early": [], "late": [], "later": []}
        first = asyncio.create_task(gate(poller, "early", 0.2, times["early"]))
        await asyncio.sleep(0.07)
        second = asyncio.create_task(gate(poller, "late", 0.2, times["late"]))
        await asyncio.sleep(0.07)
        await asyncio.gather(first, second, gate(poller, "later", 0.2, times["later"]))
        return times

    times = asyncio.run(scenario())
    assert fake.looks[0] == ["early"]
    shared = [run_ids for run_ids in fake.looks if len(run_ids) == 3]
    assert len(shared) >= 3  # from their second or third look on, the three gates look together
    assert len(fake.looks) <= 3 + 7  # a look per gate to begin with, then shared ones
    for looks in times.values():
        gaps = [b - a for a, b in itertools.pairwise(looks)]
        assert all(gap >= 0.1 - 1e-6 for gap in gaps)  # never more than half an interval early
        assert all(gap <= 0.2 + 0.5 for gap in gaps)  # nor much later than an interval, on a busy machine too


def test_a_gate_alone_looks_once_per_interval() -> None:
    fake = FakeLooks({"alone": 3})

    async def scenario() -> list[float]:
        times: list[float] = []
        await gate(LookPoller(fake, lambda: POOL), "alone", 0.15, times)
        return times

    times = asyncio.run(scenario())
    assert len(times) == 4
    assert all(b - a >= 0.15 - 0.01 for a, b in itertools.pairwise(times))


def test_a_failing_look_function_reaches_every_waiting_gate() -> None:
    def broken(asks: Sequence[Ask], members: frozenset[str]) -> Iterator[list[tuple[Ask, Any]]]:
        yield [(asks[0], "pending")]
        raise RuntimeError("look function bug")

    async def scenario() -> list[Any]:
        poller = LookPoller(broken, lambda: POOL)
        return await asyncio.gather(*(poller.look(f"r{i}", lambda hook: None, 1.0) for i in range(3)))

    outcomes = [outcome for outcome, _ in asyncio.run(scenario())]
    assert outcomes[0] == "pending"
    assert all(isinstance(o, RuntimeError) for o in outcomes[1:])


def test_a_cancelled_gate_leaves_and_the_poller_stops_with_the_last_one() -> None:
    fake = FakeLooks({"a": 100, "b": 100})

    async def scenario() -> LookPoller:
        poller = LookPoller(fake, lambda: POOL)
        tasks = [asyncio.create_task(gate(poller, run_id, 0.05, [])) for run_id in ("a", "b")]
        await asyncio.sleep(0.12)
        tasks[0].cancel()
        await asyncio.sleep(0.12)
        assert fake.looks[-1] == ["b"]
        assert dict(poller._members) == {"b": 1}
        tasks[1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.1)
        assert poller._task is not None and poller._task.done()
        return poller

    poller = asyncio.run(scenario())
    assert not poller._members and not poller._waiting


# BatchedLooks on fake MLflow stores: what is asked of MLflow, and each gate's decision.


def run(run_id: str, status: str, accuracy: float | None = 0.95, experiment_id: str = "1") -> Any:
    info = SimpleNamespace(run_id=run_id, status=status, experiment_id=experiment_id)
    metrics = {} if accuracy is None else {"accuracy": accuracy}
    return SimpleNamespace(info=info, data=SimpleNamespace(metrics=metrics, params={}, tags={}))


class FakeTracking:
    """Just enough of MLflow's tracking store: runs by id, searches by ``run_id IN`` and ``status !=``, pages."""

    def __init__(self, runs: list[Any], page_size: int = RUN_IDS_PER_SEARCH) -> None:
        from mlflow.store.entities import PagedList

        self.paged = PagedList
        self.runs = {r.info.run_id: r for r in runs}
        self.page_size = page_size
        self.calls: list[str] = []
        self.fail_searches = False

    def get_run(self, run_id: str) -> Any:
        self.calls.append("get_run")
        if run_id not in self.runs:
            raise LookupError(f"run {run_id} not found")
        return self.runs[run_id]

    def get_experiment(self, experiment_id: str) -> Any:
        self.calls.append("get_experiment")
        return SimpleNamespace(experiment_id=experiment_id, name=f"exp-{experiment_id}")

    def search_experiments(self, view_type: Any, max_results: int, filter_string: Any, page_token: Any) -> Any:
        self.calls.append("search_experiments")
        return self.paged([SimpleNamespace(experiment_id=e, name=f"exp-{e}") for e in ("1", "2")], None)

    def search_runs(
        self, experiments: list[str], filter_string: str, view: Any, size: int, order: Any, token: Any
    ) -> Any:
        self.calls.append("search_runs")
        if self.fail_searches:
            raise ConnectionError("MLflow is down")
        ids = re.search(r"run_id IN \(([^)]*)\)", filter_string)[1].replace("'", "").split(", ")  # type: ignore[index]
        excluded = re.findall(r"status != '(\w+)'", filter_string)
        found = [self.runs[i] for i in ids if i in self.runs and self.runs[i].info.status not in excluded]
        found = [r for r in found if r.info.experiment_id in experiments]
        start = int(token or 0)
        following = str(start + self.page_size) if start + self.page_size < len(found) else None
        return self.paged(found[start : start + self.page_size], following)


def connection(tracking: FakeTracking) -> MLflowHook:
    hook = MLflowHook(mlflow_conn_id="fake")
    hook.settings = SimpleNamespace()  # type: ignore[assignment]
    hook.stores = MLflowStores(tracking, None)
    hook.tracking_rest = hook.registry_rest = None
    return hook


def asks(run_ids: list[str]) -> list[Ask]:
    def check(run_id: str) -> Any:
        criteria = BaselineCriteria(run_id=run_id, metric_name="accuracy", baseline_value=0.9)
        return lambda hook: check_baseline(hook, criteria)

    return [Ask(r, check(r), 10.0, 0.0, None) for r in run_ids]  # type: ignore[arg-type]


def outcomes(looks: BatchedLooks, run_ids: list[str]) -> tuple[dict[str, Any], list[int]]:
    """Every outcome by run id, and the size of each batch."""
    batches = list(looks(asks(run_ids), frozenset(run_ids)))
    return {a.run_id: o for batch in batches for a, o in batch}, [len(b) for b in batches]  # type: ignore[misc]


def test_a_fleet_is_read_in_full_once_then_asked_only_which_runs_ended() -> None:
    ids = [f"run{i:04d}" for i in range(1200)]
    tracking = FakeTracking([run(i, "RUNNING", experiment_id="12"[i.endswith("7")]) for i in ids], page_size=300)
    looks = BatchedLooks(lambda: connection(tracking))

    first, sizes = outcomes(looks, ids)
    assert {o.status for o in first.values()} == {"pending"}
    assert sizes == [500, 500, 200]  # one batch per chunk of run ids
    assert tracking.calls == ["search_experiments"] + ["search_runs"] * 5  # 500 ids, in pages of 300: 2+2+1

    tracking.calls.clear()
    tracking.runs["run0001"] = run("run0001", "FINISHED", 0.95)
    tracking.runs["run0002"] = run("run0002", "FINISHED", 0.5)
    tracking.runs["run0003"] = run("run0003", "KILLED")
    tracking.runs["run1107"] = run("run1107", "FINISHED", 0.99, experiment_id="2")
    second, _ = outcomes(looks, ids)
    assert tracking.calls.count("search_runs") == 3  # 1,200 ids, 500 a search; only ended runs come back
    assert tracking.calls.count("get_experiment") == 2  # once per experiment, for the evidence of three finished runs
    assert "get_run" not in tracking.calls
    assert (second["run0001"].status, second["run0001"].evidence.experiment_name) == ("success", "exp-1")
    assert (second["run0002"].status, second["run0002"].failure.value) == ("failed", "baseline_not_met")
    assert (second["run0003"].status, second["run0003"].failure.value) == ("failed", "run_failed")
    assert second["run1107"].evidence.experiment_id == "2"
    assert second["run0004"].reason == "run run0004 is RUNNING"


def test_a_few_new_runs_are_read_one_get_each_and_a_missing_one_fails_as_alone() -> None:
    tracking = FakeTracking([run("a", "RUNNING")])
    looks = BatchedLooks(lambda: connection(tracking))
    found, _ = outcomes(looks, ["a", "gone"])
    assert found["a"].status == "pending"
    assert isinstance(found["gone"], LookupError)
    assert tracking.calls == ["get_run", "get_run"]


def test_a_failed_search_reaches_every_gate_left_and_forgotten_runs_are_read_again() -> None:
    ids = [f"r{i}" for i in range(600)]
    tracking = FakeTracking([run(i, "RUNNING") for i in ids])
    looks = BatchedLooks(lambda: connection(tracking))
    outcomes(looks, ids)
    tracking.fail_searches, tracking.calls = True, []
    failed, sizes = outcomes(looks, ids)
    assert sizes == [600] and tracking.calls == ["search_runs"]  # no second search after the first failed
    assert all(isinstance(o, ConnectionError) for o in failed.values())

    tracking.fail_searches = False
    list(looks(asks(ids[:2]), frozenset(ids[:2])))  # the other gates have gone: their runs are forgotten
    assert set(looks.known) == {"r0", "r1"}


def test_run_ids_a_filter_cannot_quote_are_looked_at_alone() -> None:
    tracking = FakeTracking([run("a", "FINISHED"), run("b", "RUNNING"), run("c", "RUNNING")])
    looks = BatchedLooks(lambda: connection(tracking))
    found, sizes = outcomes(looks, ["a", "b", "c", "x' OR '1"])
    assert isinstance(found["x' OR '1"], LookupError)
    assert sizes == [3, 1]


def test_runs_filter_and_chunks() -> None:
    assert runs_filter(["a", "b"]) == "attributes.run_id IN ('a', 'b')"
    assert runs_filter(["a"], ["RUNNING", "SCHEDULED"]) == (
        "attributes.run_id IN ('a') AND attributes.status != 'RUNNING' AND attributes.status != 'SCHEDULED'"
    )
    assert [len(c) for c in chunks([str(i) for i in range(1001)])] == [500, 500, 1]


@pytest.fixture(autouse=True, scope="module")
def _pool() -> Iterator[None]:
    yield
    POOL.shutdown(wait=False)

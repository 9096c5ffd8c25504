"""
One look at the runs of many baseline gates on one MLflow connection, in a few ``runs/search`` requests: I/O in a
worker thread, each gate then decided by its own check (:func:`airflow_provider_hokusai.gate.check.check_baseline`)
on what the searches read.

* A run read before is asked about only if it has **ended** (``status`` neither RUNNING nor SCHEDULED): the answer
  holds the runs that changed, not the ones still running, and a run it leaves out is still as last read.
* A run not read yet (a gate's first look) is read in full: one GET each when there are at most
  :data:`SINGLE_READS` of them, else one search over the server's experiments (``runs/search`` needs experiment ids).
* At most :data:`RUN_IDS_PER_SEARCH` run ids per request, each answer paged; a run the searches do not find is read
  by the gate's own check (one GET), so a missing run fails as it would alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_hokusai.gate.baseline import PENDING_RUN_STATES
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.registry.entities import TrackedExperiment, TrackedRun
from airflow_provider_hokusai.registry.syntax import PLAIN_RUN_ID, runs_filter

if TYPE_CHECKING:
    from airflow_provider_hokusai.triggers._poller import Ask

__all__ = ["RUN_IDS_PER_SEARCH", "SINGLE_READS", "BatchedLooks", "LookHook", "chunks"]

#: Run ids per ``runs/search`` request (and results per page): the filter's size and the server's parse time grow
#: with it, so one answer stays well under a second on a loaded single-worker server.
RUN_IDS_PER_SEARCH = 500
#: Runs not read yet that are read with one GET each; more are found by listing the experiments and searching.
SINGLE_READS = 2
EXPERIMENTS_PER_PAGE = 1000
_ENDED = sorted(PENDING_RUN_STATES)  # the statuses a run that ended no longer has

Step = tuple[list["Ask"], Callable[[], None] | None]


def chunks(items: Sequence[str], size: int = RUN_IDS_PER_SEARCH) -> Iterator[list[str]]:
    """``items`` in consecutive lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class LookHook(MLflowHook):
    """
    The connection's hook as one look sees it: the runs its searches read are answered without a request, and an
    experiment or a baseline alias is read once per look however many gates ask. Shares the connection's clients.

    :param hook: The connection's hook, connected
        (:meth:`~airflow_provider_hokusai.hooks.mlflow_stores.MLflowStoreHook.connect`).
    :param known: Each gate's run as last read, kept between looks; a run read through this hook is added.
    """

    def __init__(self, hook: MLflowHook, known: dict[str, TrackedRun]) -> None:
        super().__init__(mlflow_conn_id=hook.mlflow_conn_id)
        self.settings = hook.settings
        self.tracking_rest, self.registry_rest = hook.tracking_rest, hook.registry_rest
        if "stores" in vars(hook):  # opened by the connection's hook only where a URI needs MLflow's client
            self.stores = hook.stores
        self.known = known
        self.fresh: dict[str, TrackedRun] = {}
        self._experiments: dict[str, TrackedExperiment] = {}
        self._aliases: dict[tuple[str, str, str], float | None] = {}

    def get_run(self, run_id: str) -> TrackedRun:
        """The run as this look read it, else one GET."""
        if run_id not in self.fresh:
            self.remember(super().get_run(run_id))
        return self.fresh[run_id]

    def remember(self, run: TrackedRun) -> None:
        """``run`` as read now: for this look, and for the next ones."""
        self.fresh[run.info.run_id] = self.known[run.info.run_id] = run

    def get_experiment(self, experiment_id: str) -> TrackedExperiment:
        """The experiment, read once per look."""
        key = str(experiment_id)
        if key not in self._experiments:
            self._experiments[key] = super().get_experiment(key)
        return self._experiments[key]

    def get_alias_metric(self, model_name: str, alias: str, metric_name: str) -> float | None:
        """The baseline alias's metric, read once per look."""
        key = (model_name, alias, metric_name)
        if key not in self._aliases:
            self._aliases[key] = super().get_alias_metric(model_name, alias, metric_name)
        return self._aliases[key]

    def search_all(self, experiment_ids: Sequence[str], filter_string: str) -> None:
        """Every page of the runs (deleted ones too, as a GET sees them) matching ``filter_string``, remembered."""
        token: str | None = None
        while experiment_ids:
            page = self.search_runs(
                experiment_ids, filter_string, max_results=RUN_IDS_PER_SEARCH, page_token=token, deleted_too=True
            )
            for run in page:
                self.remember(run)
            token = page.token
            if not token:
                return

    def experiment_ids(self) -> list[str]:
        """Every active experiment's id, all pages."""
        ids: list[str] = []
        token: str | None = None
        while True:
            page = self.search_experiments(max_results=EXPERIMENTS_PER_PAGE, page_token=token)
            ids += [str(e.experiment_id) for e in page]
            token = page.token
            if not token:
                return ids


def _outcome(ask: Ask, hook: LookHook) -> Any:
    try:
        return ask.check(hook)
    except Exception as exc:  # the gate turns it into its event, as when it looked alone
        return exc


class BatchedLooks:
    """
    The look function of a connection's :class:`~airflow_provider_hokusai.triggers._poller.LookPoller`; remembers
    each member gate's run between looks.

    :param hook: Returns the connection's hook, connected (called in the worker thread).
    """

    def __init__(self, hook: Callable[[], MLflowHook]) -> None:
        self.hook = hook
        self.known: dict[str, TrackedRun] = {}

    def __call__(self, asks: Sequence[Ask], members: frozenset[str]) -> Iterator[list[tuple[Ask, Any]]]:
        """The outcome of every ask, one batch per search; once a search fails, every ask left gets its error."""
        for run_id in self.known.keys() - members:
            del self.known[run_id]
        view = LookHook(self.hook(), self.known)
        steps = self._plan(view, asks)
        for index, (group, read) in enumerate(steps):
            try:
                if read is not None:
                    read()
            except Exception as exc:
                # Later searches would fail alike, each after MLflow's own retries: the gates hear of it now.
                yield [(ask, exc) for later, _ in steps[index:] for ask in later]
                return
            yield [(ask, _outcome(ask, view)) for ask in group]

    def _plan(self, view: LookHook, asks: Sequence[Ask]) -> list[Step]:
        by_run: dict[str, list[Ask]] = {}
        alone: list[Ask] = []
        for ask in asks:
            if ask.run_id and PLAIN_RUN_ID.match(ask.run_id):
                by_run.setdefault(ask.run_id, []).append(ask)
            else:
                alone.append(ask)
        experiment = {run_id: str(run.info.experiment_id) for run_id, run in self.known.items()}
        known = sorted((r for r in by_run if r in experiment), key=lambda r: (experiment[r], r))
        unknown = [r for r in by_run if r not in experiment]
        steps: list[Step] = []
        for chunk in chunks(known):
            in_chunk = sorted({experiment[r] for r in chunk})
            steps.append((_asks(by_run, chunk), partial(self._read_ended, view, chunk, in_chunk)))
        if len(unknown) > SINGLE_READS:
            every: list[list[str]] = []  # listed by the first of these steps, once per look
            for chunk in chunks(unknown):
                steps.append((_asks(by_run, chunk), partial(self._read_new, view, chunk, every)))
        else:
            steps += [(by_run[r], None) for r in unknown]  # the gate's own check reads it: one GET
        return [*steps, (alone, None)] if alone else steps

    def _read_ended(self, view: LookHook, chunk: list[str], experiment_ids: list[str]) -> None:
        view.fresh.update((r, self.known[r]) for r in chunk)
        view.search_all(experiment_ids, runs_filter(chunk, _ENDED))

    @staticmethod
    def _read_new(view: LookHook, chunk: list[str], every: list[list[str]]) -> None:
        if not every:
            every.append(view.experiment_ids())
        view.search_all(every[0], runs_filter(chunk))


def _asks(by_run: dict[str, list[Ask]], run_ids: list[str]) -> list[Ask]:
    return [ask for run_id in run_ids for ask in by_run[run_id]]

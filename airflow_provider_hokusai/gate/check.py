"""One look at a candidate run through the MLflow hook, decided by the pure gate: shared by the sensor and trigger."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_hokusai.gate.baseline import (
    PENDING_RUN_STATES,
    BaselineCheck,
    BaselineCriteria,
    CandidateRun,
    decide,
    run_outcome,
)

if TYPE_CHECKING:
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook

__all__ = ["check_baseline"]


def check_baseline(hook: MLflowHook, criteria: BaselineCriteria) -> BaselineCheck:
    """
    One look at the candidate: read the run, read the alias's metric only when the baseline must decide, decide.

    Transport errors propagate (the caller decides whether to retry); every permanent outcome is a ``failed``
    :class:`~airflow_provider_hokusai.gate.baseline.BaselineCheck`. Shared by the sensor and the trigger.

    A run named by ``criteria.run_id`` costs one GET while it is RUNNING/SCHEDULED: its experiment (needed only
    for the evidence) is read once the run has ended, and the run is not read twice.

    :param hook: Where the run and the alias are read.
    :param criteria: What the gate is asked.
    """
    run = None
    if criteria.run_id:
        run = hook.get_run(criteria.run_id)
        info = run.info
        if str(info.status) in PENDING_RUN_STATES:
            waiting = run_outcome(criteria, CandidateRun(str(info.run_id), str(info.status), str(info.experiment_id)))
            if waiting is not None:
                return waiting
    candidate = hook.find_candidate_run(criteria, run)
    early = run_outcome(criteria, candidate)
    if early is not None:
        return early
    alias_baseline = None
    if criteria.baseline_alias and criteria.baseline_model_name:
        alias_baseline = hook.get_alias_metric(
            criteria.baseline_model_name, criteria.baseline_alias, criteria.metric_name
        )
    return decide(criteria, candidate, alias_baseline)

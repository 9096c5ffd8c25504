"""Trigger that waits in the triggerer until an MLflow run beats (or fails to beat) its baseline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hokusai.baseline import BaselineCheck, BaselineCriteria, FailureKind, decide, run_outcome
from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidBaselineInput
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.validation import validate


def check_baseline(hook: MLflowHook, criteria: BaselineCriteria) -> BaselineCheck:
    """
    One look at the candidate: read the run, read the alias's metric only when the baseline must decide, decide.

    Transport errors propagate (the caller decides whether to retry); every permanent outcome is a ``failed``
    :class:`~airflow_provider_hokusai.baseline.BaselineCheck`. Shared by the sensor and the trigger.

    :param hook: Where the run and the alias are read.
    :param criteria: What the gate is asked.
    """
    candidate = hook.find_candidate_run(criteria)
    early = run_outcome(criteria, candidate)
    if early is not None:
        return early
    alias_baseline = None
    if criteria.baseline_alias and criteria.baseline_model_name:
        alias_baseline = hook.get_alias_metric(
            criteria.baseline_model_name, criteria.baseline_alias, criteria.metric_name
        )
    return decide(criteria, candidate, alias_baseline)


class MLflowBaselineTrigger(BaseTrigger):
    """
    Poll an MLflow run until it is no longer RUNNING/SCHEDULED, then compare its metric with the baseline.

    Every MLflow call is blocking, so each look runs in a worker thread (``asyncio.to_thread``) and the
    triggerer's event loop never waits on the network. Yields exactly one event, primitives only, with the keys
    ``status``, ``reason``, ``error`` and ``evidence``:

    * ``success``: ``evidence`` is the :class:`~airflow_provider_hokusai.baseline.BaselineEvidence` as a dict;
    * ``failed``: ``error`` is the :class:`~airflow_provider_hokusai.baseline.FailureKind` value (baseline not
      met, run FAILED/KILLED, metric missing, no baseline, invalid input);
    * ``error``: anything unexpected (e.g. the server is unreachable); the sensor lets Airflow retry.

    :param criteria: What the gate is asked: a :class:`~airflow_provider_hokusai.baseline.BaselineCriteria` or its
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
            criteria = validate(BaselineCriteria, criteria, InvalidBaselineInput)
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
        hook = MLflowHook(mlflow_conn_id=self.mlflow_conn_id)
        try:
            while True:
                check = await asyncio.to_thread(self._check, hook)
                if check.status != "pending":
                    yield TriggerEvent(check.event())
                    return
                self.log.info("Still waiting: %s; next look in %ss", check.reason, self.poll_interval)
                await asyncio.sleep(self.poll_interval)
        except HokusaiPermanentError as exc:
            # e.g. an invalid connection: no look will ever succeed, and retrying the task cannot fix it.
            yield TriggerEvent(BaselineCheck("failed", str(exc), failure=FailureKind.INVALID_INPUT).event())
        except Exception as exc:
            self.log.exception("MLflow baseline trigger failed")
            yield TriggerEvent({"status": "error", "reason": f"{type(exc).__name__}: {exc}", "error": None})

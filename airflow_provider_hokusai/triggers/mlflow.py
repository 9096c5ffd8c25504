"""Trigger that waits in the triggerer until an MLflow run beats (or fails to beat) its baseline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hokusai.exceptions import HokusaiPermanentError
from airflow_provider_hokusai.hooks.mlflow import BaselineCheck, MLflowHook


class MLflowBaselineTrigger(BaseTrigger):
    """
    Poll an MLflow run until it is no longer RUNNING/SCHEDULED, then compare its metric with the baseline.

    Every MLflow call is blocking, so each look runs in a worker thread (``asyncio.to_thread``) and the
    triggerer's event loop never waits on the network. Yields exactly one event, primitives only:

    * ``{"status": "success", "evidence": {...}, "reason": str}``;
    * ``{"status": "failed", "error": <kind>, "reason": str}`` for a permanent outcome (baseline not met, run
      FAILED/KILLED, metric missing, no baseline, invalid input);
    * ``{"status": "error", "reason": str}`` for anything unexpected (e.g. the server is unreachable).

    The arguments are those of :class:`~airflow_provider_hokusai.sensors.mlflow.MLflowBaselineSensor`, already
    rendered; ``poll_interval`` is the pause between looks, in seconds.
    """

    def __init__(
        self,
        *,
        metric_name: str,
        run_id: str | None = None,
        experiment_name: str | None = None,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        baseline_value: float | None = None,
        baseline_model_name: str | None = None,
        baseline_alias: str | None = None,
        direction: str | None = None,
        min_improvement: float = 0.0,
        min_improvement_mode: str = "relative",
        mlflow_conn_id: str = MLflowHook.default_conn_name,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.metric_name = metric_name
        self.run_id = run_id
        self.experiment_name = experiment_name
        self.filter_string = filter_string
        self.order_by = list(order_by) if order_by is not None else None
        self.baseline_value = float(baseline_value) if baseline_value is not None else None
        self.baseline_model_name = baseline_model_name
        self.baseline_alias = baseline_alias
        self.direction = direction
        self.min_improvement = float(min_improvement)
        self.min_improvement_mode = min_improvement_mode
        self.mlflow_conn_id = mlflow_conn_id
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "metric_name": self.metric_name,
                "run_id": self.run_id,
                "experiment_name": self.experiment_name,
                "filter_string": self.filter_string,
                "order_by": self.order_by,
                "baseline_value": self.baseline_value,
                "baseline_model_name": self.baseline_model_name,
                "baseline_alias": self.baseline_alias,
                "direction": self.direction,
                "min_improvement": self.min_improvement,
                "min_improvement_mode": self.min_improvement_mode,
                "mlflow_conn_id": self.mlflow_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    def _check(self, hook: MLflowHook) -> BaselineCheck:
        return hook.evaluate_baseline(
            metric_name=self.metric_name,
            run_id=self.run_id,
            experiment_name=self.experiment_name,
            filter_string=self.filter_string,
            order_by=self.order_by,
            baseline_value=self.baseline_value,
            baseline_model_name=self.baseline_model_name,
            baseline_alias=self.baseline_alias,
            direction=self.direction,
            min_improvement=self.min_improvement,
            min_improvement_mode=self.min_improvement_mode,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = MLflowHook(mlflow_conn_id=self.mlflow_conn_id)
        try:
            while True:
                check = await asyncio.to_thread(self._check, hook)
                if check.status == "success":
                    yield TriggerEvent({"status": "success", "evidence": check.evidence, "reason": check.reason})
                    return
                if check.status == "failed":
                    yield TriggerEvent({"status": "failed", "error": check.error, "reason": check.reason})
                    return
                self.log.info("Still waiting: %s; next look in %ss", check.reason, self.poll_interval)
                await asyncio.sleep(self.poll_interval)
        except HokusaiPermanentError as exc:
            yield TriggerEvent({"status": "failed", "error": "invalid_input", "reason": str(exc)})
        except Exception as exc:
            self.log.exception("MLflow baseline trigger failed")
            yield TriggerEvent({"status": "error", "reason": f"{type(exc).__name__}: {exc}"})

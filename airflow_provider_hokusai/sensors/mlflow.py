"""Sensor that gates a release on an MLflow run beating its baseline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_hokusai.exceptions import HokusaiRetryableError, InvalidInputError
from airflow_provider_hokusai.gate.baseline import (
    DEFAULT_ORDER_BY,
    BaselineCheck,
    BaselineCriteria,
    BaselineEvidence,
    FailureKind,
)
from airflow_provider_hokusai.gate.check import check_baseline
from airflow_provider_hokusai.operators.mlflow import MLflowHookMixin
from airflow_provider_hokusai.registry.connection import DEFAULT_CONN_ID
from airflow_provider_hokusai.utils.compat import conf
from airflow_provider_hokusai.utils.metrics import BASELINE_FAILED, BASELINE_PASSED, metric_tag_value
from airflow_provider_hokusai.utils.validation import validate_attributes

if TYPE_CHECKING:
    from airflow.sdk import Context


__all__ = ["MLflowBaselineSensor"]


class MLflowBaselineSensor(MLflowHookMixin, BaseSensorOperator):
    """
    Wait for an MLflow run to finish, then succeed only if its metric beats the baseline.

    The candidate is ``run_id``, or the first run of ``experiment_name`` that matches ``filter_string`` in
    ``order_by`` order (newest first by default). The baseline is the same metric of the model version behind
    ``baseline_model_name@baseline_alias`` (e.g. ``champion``), or ``baseline_value``; when both are given the
    value is the fallback for the very first model, before any alias exists. The decision is
    :func:`airflow_provider_hokusai.gate.baseline.compare`.

    Outcomes: keeps waiting while the run is RUNNING or SCHEDULED (or not created yet). Succeeds when it
    FINISHED and beat the baseline, returning (XCom) the
    :class:`~airflow_provider_hokusai.gate.baseline.BaselineEvidence` as a dict. Fails at once, without retries, with
    :class:`~airflow_provider_hokusai.exceptions.BaselineNotMetError`, whose ``kind`` is the
    :class:`~airflow_provider_hokusai.gate.baseline.FailureKind` (baseline not met, run FAILED/KILLED, metric absent
    or non-finite, no baseline, values that cannot be compared). Each decision is counted once in
    ``hokusai.baseline.passed`` / ``hokusai.baseline.failed`` (``reason`` is the failure kind); waiting and
    infrastructure errors are not.

    Works in ``poke`` and ``reschedule`` modes, and with ``deferrable=True`` waits in the triggerer through
    :class:`~airflow_provider_hokusai.triggers.mlflow.MLflowBaselineTrigger`, polling every ``poke_interval``.

    :param metric_name: Metric to compare. (templated)
    :param run_id: The candidate run. (templated)
    :param experiment_name: Experiment to pick the candidate from when ``run_id`` is not given. (templated)
    :param filter_string: MLflow search filter for the candidate, e.g. ``"tags.candidate = 'true'"``. (templated)
    :param order_by: MLflow ``order_by`` clauses; newest run first by default.
    :param baseline_value: The value to beat, or the fallback when the alias does not exist yet. (templated)
    :param baseline_model_name: Registered model whose alias holds the baseline. (templated)
    :param baseline_alias: Alias of the baseline version, e.g. ``champion``. (templated)
    :param direction: ``higher_is_better`` / ``lower_is_better``; inferred from the metric name if None.
        (templated)
    :param min_improvement: Minimum improvement required, percent of the baseline by default. (templated)
    :param min_improvement_mode: ``relative`` (percent) or ``absolute`` (metric units).
    :param mlflow_conn_id: Id of the ``mlflow`` connection.
    :param deferrable: Wait in the triggerer instead of occupying a worker slot; defaults to Airflow's
        ``[operators] default_deferrable``, as the official providers' sensors do.
    """

    template_fields: Sequence[str] = (
        "metric_name",
        "run_id",
        "experiment_name",
        "filter_string",
        "baseline_value",
        "baseline_model_name",
        "baseline_alias",
        "direction",
        "min_improvement",
    )
    ui_color = "#d5ebf7"

    def __init__(
        self,
        *,
        metric_name: str,
        run_id: str | None = None,
        experiment_name: str | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        baseline_value: float | str | None = None,
        baseline_model_name: str | None = None,
        baseline_alias: str | None = None,
        direction: str | None = None,
        min_improvement: float | str = 0.0,
        min_improvement_mode: str = "relative",
        mlflow_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.metric_name = metric_name
        self.run_id = run_id
        self.experiment_name = experiment_name
        self.filter_string = filter_string
        self.order_by = list(order_by) if order_by else list(DEFAULT_ORDER_BY)
        self.baseline_value = baseline_value
        self.baseline_model_name = baseline_model_name
        self.baseline_alias = baseline_alias
        self.direction = direction
        self.min_improvement = min_improvement
        self.min_improvement_mode = min_improvement_mode
        self.mlflow_conn_id = mlflow_conn_id
        self.deferrable = deferrable

    def criteria(self) -> BaselineCriteria:
        """The rendered arguments, checked: every problem is reported at once, before anything is queried."""
        return validate_attributes(BaselineCriteria, self, InvalidInputError)

    def _record_decision(self, failure: FailureKind | None = None) -> None:
        """Count one baseline decision: passed when ``failure`` is None, else failed with its kind as reason."""
        from airflow_provider_hokusai.utils.compat import Stats

        tags = {"metric": metric_tag_value(str(self.metric_name)), "dag_id": self.dag_id, "task_id": self.task_id}
        if failure is None:
            Stats.incr(BASELINE_PASSED, tags=tags)
        else:
            Stats.incr(BASELINE_FAILED, tags={**tags, "reason": failure.value})

    def _outcome(self, check: BaselineCheck) -> dict[str, Any] | None:
        """The evidence of a success, None while pending; a failure is counted and raised."""
        if check.status == "success" and check.evidence is not None:
            self.log.info("Baseline gate passed: %s", check.reason)
            self._record_decision()
            return check.evidence.model_dump(mode="json")
        if check.status == "failed":
            failure = check.failure or FailureKind.INVALID_INPUT
            self.log.error("Baseline gate failed: %s", check.reason)
            self._record_decision(failure)
            raise failure.error(check.reason)
        self.log.info("Waiting: %s", check.reason)
        return None

    def poke(self, context: Context) -> PokeReturnValue | bool:
        evidence = self._outcome(check_baseline(self.hook, self.criteria()))
        if evidence is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=evidence)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        criteria = self.criteria()
        # One look first: a run that already finished needs no trip through the triggerer.
        evidence = self._outcome(check_baseline(self.hook, criteria))
        if evidence is not None:
            return evidence
        from airflow_provider_hokusai.triggers.mlflow import MLflowBaselineTrigger

        self.defer(
            trigger=MLflowBaselineTrigger(
                criteria=criteria, mlflow_conn_id=self.mlflow_conn_id, poll_interval=float(self.poke_interval)
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)) if self.timeout is not None else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Turn the trigger's event into the evidence (success) or the matching error."""
        reason = str(event.get("reason") or "no reason given")
        if event.get("status") == "success":
            evidence = BaselineEvidence.model_validate(event["evidence"])
            return self._outcome(BaselineCheck("success", reason, evidence=evidence)) or {}
        if event.get("status") == "failed":
            # A kind this provider does not know (an older or newer trigger) is still a permanent decision.
            error = event.get("error")
            failure = FailureKind(error) if error in set(FailureKind) else FailureKind.INVALID_INPUT
            self._outcome(BaselineCheck("failed", reason, failure=failure))  # raises
        raise HokusaiRetryableError(f"MLflow baseline trigger error: {reason}")

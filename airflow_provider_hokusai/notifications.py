"""Failure notification and SLA (deadline) alerting for the Hokusai release pipeline.

Both live in the package, not in DAG files: Airflow imports a deadline callback by its dotted path in the
triggerer, where DAG files are not importable modules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_provider_hokusai.utils.metrics import DEADLINE_MISSED, TASK_FAILED

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["HokusaiFailureNotifier", "hokusai_deadline_missed"]

log = logging.getLogger(__name__)


class HokusaiFailureNotifier(BaseNotifier):
    """
    On-failure notifier: one structured, secret-free log line plus a ``hokusai.task.failed`` metric.

    Subclass it (or pass any other Airflow notifier, e.g. Slack's) to page people; the message is templated.

    :param message: What to say. (templated)
    """

    template_fields: Sequence[str] = ("message",)

    def __init__(
        self,
        *,
        message: str = "Hokusai release task {{ ti.task_id }} of {{ dag.dag_id }} failed "
        "(run {{ run_id }}, try {{ ti.try_number }})",
    ) -> None:
        super().__init__()
        self.message = message

    def notify(self, context: Context) -> None:
        from airflow_provider_hokusai.utils.compat import Stats

        ti = context.get("ti")
        dag_id = getattr(ti, "dag_id", "unknown")
        task_id = getattr(ti, "task_id", "unknown")
        Stats.incr(TASK_FAILED, tags={"dag_id": dag_id, "task_id": task_id})
        exception = context.get("exception")
        reason = f"{type(exception).__name__}: {exception}" if exception else "no exception recorded"
        self.log.error("%s: %s", self.message, reason)


async def hokusai_deadline_missed(dag_id: str = "", deadline_description: str = "", **kwargs: Any) -> dict[str, Any]:
    """
    Deadline Alert callback (runs in the triggerer): the release pipeline missed its SLA.

    Emits ``hokusai.deadline.missed`` and a warning with the run's identity; returns what it reported.

    :param dag_id: The DAG whose run is late (passed through the callback's kwargs).
    :param deadline_description: Human description of the deadline, e.g. "release within 2h of queueing".
    """
    from airflow_provider_hokusai.utils.compat import Stats

    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") if isinstance(context, dict) else None
    run_id = getattr(dag_run, "run_id", None) or (context.get("run_id") if isinstance(context, dict) else None)
    Stats.incr(DEADLINE_MISSED, tags={"dag_id": dag_id or "unknown"})
    log.warning("Hokusai SLA missed: dag %s run %s did not finish %s", dag_id, run_id, deadline_description)
    return {"dag_id": dag_id, "run_id": run_id, "deadline": deadline_description}

"""
What the provider's DAGs share: their connections, start date, retry policy, common params, and the factory that
builds each of them from its :class:`ProviderDag` description.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_hokusai.notifications import HokusaiFailureNotifier

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow.sdk.definitions.dag import ScheduleArg

__all__ = [
    "CHAMPION_ALIAS_PARAM",
    "MLFLOW_CONN_ID",
    "QUEUE_CONN_ID",
    "QUEUE_NAME_PARAM",
    "START_DATE",
    "TAGS",
    "Connections",
    "ProviderDag",
    "announce_with_params",
    "default_args",
    "max_versions_param",
]

#: The ``mlflow`` connection the DAGs read the registry through.
MLFLOW_CONN_ID = "mlflow_default"
#: The queue connection they announce on (type ``hokusai_redis``/``redis`` or ``hokusai_sqs``/``aws``).
QUEUE_CONN_ID = "hokusai_queue"
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
TAGS = ["hokusai", "mlops"]

# Appended to each DAG's documentation: every one of them reads MLflow and announces on the queue.
_CONNECTIONS_DOC = """
Connections: ``mlflow_default`` (type ``mlflow``) and ``hokusai_queue`` (type ``hokusai_redis``/``redis`` or
``hokusai_sqs``/``aws``), unless the factory was given others.
"""

#: The ``queue_name`` param: the queue (Redis list or SQS queue) to announce on; the connection's when null.
QUEUE_NAME_PARAM = Param(None, type=["null", "string"], description="Queue/list name; connection default.")
#: The ``champion_alias`` param: the alias whose version is the baseline when a version has no ``benchmark_value``.
CHAMPION_ALIAS_PARAM = Param(None, type=["null", "string"], description="Baseline from <model>@<alias>.")


def max_versions_param(default: int) -> Param:
    """
    The ``max_versions`` param: how many versions one run handles at the most.

    :param default: The bound when the run's conf does not set one.
    """
    return Param(default, type="integer", minimum=1, description="Upper bound of versions per run.")


def default_args(
    *,
    retries: int,
    retry_delay: timedelta,
    execution_timeout: timedelta,
    max_retry_delay: timedelta = timedelta(minutes=10),
) -> dict[str, Any]:
    """
    Every task's arguments: retries with exponential backoff, a timeout, and the Hokusai failure notifier.

    :param retries: How many times a failed task is retried.
    :param retry_delay: The first retry's delay; each next one doubles, up to ``max_retry_delay``.
    :param execution_timeout: The upper bound of one try.
    :param max_retry_delay: The longest delay between two tries.
    """
    return {
        "owner": "hokusai-ml",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": max_retry_delay,
        "execution_timeout": execution_timeout,
        "on_failure_callback": HokusaiFailureNotifier(),
    }


@dataclass(frozen=True)
class Connections:
    """
    The connections a provider DAG's tasks use.

    :param mlflow_conn_id: The ``mlflow`` connection.
    :param queue_conn_id: The queue connection.
    """

    mlflow_conn_id: str
    queue_conn_id: str


def announce_with_params(
    versions: Iterable[tuple[str, str]], params: Mapping[str, Any], connections: Connections
) -> list[dict[str, Any]]:
    """
    Validate and announce ``versions`` as a webhook event would, on the queue and with the champion alias of the
    run's ``params`` (``queue_name``, ``champion_alias``).
    """
    # Imported when a task runs: parsing a DAG file does not load the registry client and the queue hooks.
    from airflow_provider_hokusai.announcement.candidates import announce_versions

    return announce_versions(
        versions,
        mlflow_conn_id=connections.mlflow_conn_id,
        queue_conn_id=connections.queue_conn_id,
        queue_name=params.get("queue_name"),
        champion_alias=params.get("champion_alias"),
    )


class _Shipped:
    """The default of a :class:`ProviderDag` call's ``schedule``: the DAG's own."""

    def __repr__(self) -> str:
        return "<shipped schedule>"


_SHIPPED = _Shipped()


@dataclass(frozen=True)
class ProviderDag:
    """
    One of the provider's DAGs, described; calling it builds the DAG (a new object each call, as each parse of a DAG
    file builds new ones), with what they all share: start date, no catch-up, tags, the module's docstring and the
    connections as its documentation, and :func:`default_args` for its tasks.

    :param dag_id: Its default id.
    :param doc: Its documentation (the module's ``__doc__``).
    :param description: Its one-line description.
    :param schedule: Its default schedule.
    :param tries: :func:`default_args`' arguments: ``retries``, ``retry_delay``, ``execution_timeout``...
    :param params: Its params (each DAG built gets copies).
    :param tasks: Adds its tasks to the DAG being built, for the connections it is given.
    :param settings: The rest of ``DAG``'s arguments (max_active_runs, tags...).
    """

    dag_id: str
    doc: str | None
    description: str
    schedule: ScheduleArg
    tries: Mapping[str, Any]
    params: Mapping[str, Param]
    tasks: Callable[[Connections], object]
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __call__(
        self,
        *,
        dag_id: str | None = None,
        schedule: ScheduleArg | _Shipped = _SHIPPED,
        mlflow_conn_id: str = MLFLOW_CONN_ID,
        queue_conn_id: str = QUEUE_CONN_ID,
    ) -> DAG:
        """
        Build the DAG.

        :param dag_id: Its id; the shipped one by default.
        :param schedule: Its schedule; the shipped one by default, None for runs only when triggered.
        :param mlflow_conn_id: The ``mlflow`` connection.
        :param queue_conn_id: The queue connection.
        """
        settings = {"tags": TAGS, **self.settings}
        with DAG(
            dag_id=dag_id or self.dag_id,
            description=self.description,
            schedule=self.schedule if isinstance(schedule, _Shipped) else schedule,
            start_date=START_DATE,
            catchup=False,
            default_args=default_args(**self.tries),
            params=copy.deepcopy(dict(self.params)),
            doc_md=f"{self.doc}{_CONNECTIONS_DOC}" if self.doc else _CONNECTIONS_DOC,
            **settings,
        ) as dag:
            self.tasks(Connections(mlflow_conn_id=mlflow_conn_id, queue_conn_id=queue_conn_id))
        return dag

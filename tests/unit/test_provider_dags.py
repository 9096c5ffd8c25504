"""
The provider's own DAGs ship in the package: the one-line DAG file of docs/installation.md (the repository's
``dags/hokusai_provider_dags.py``) builds all four, and the Hokusai page's default DAG ids are among them.
"""

from __future__ import annotations

import re
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_hokusai.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[2]
ONE_LINE_FILE = REPO / "dags" / "hokusai_provider_dags.py"
PROVIDER_DAG_IDS = {
    "hokusai_reconcile_announcements",
    "hokusai_announce_only",
    "hokusai_registry_events",
    "hokusai_registry_discovery",
}


def dags_of(source: str) -> dict[str, DAG]:
    namespace: dict[str, object] = {"__name__": "one_line_dag_file"}
    exec(compile(source, str(ONE_LINE_FILE), "exec"), namespace)
    return {value.dag_id: value for value in namespace.values() if isinstance(value, DAG)}


def test_the_repository_file_is_the_documented_line() -> None:
    lines = ONE_LINE_FILE.read_text().splitlines()
    assert len(lines) == 1
    documented = re.findall(r"^```python\n(.*?)```", (REPO / "docs" / "installation.md").read_text(), re.M | re.S)
    assert documented and documented[0].strip() == lines[0]


def test_the_line_passes_airflows_safe_mode_and_builds_the_four_dags() -> None:
    from airflow.utils.file import might_contain_dag_via_default_heuristic

    assert might_contain_dag_via_default_heuristic(str(ONE_LINE_FILE))
    dags = dags_of(ONE_LINE_FILE.read_text())
    assert set(dags) == PROVIDER_DAG_IDS
    assert all(dag.tasks for dag in dags.values())
    assert {"model_name", "model_version"} <= set(dags["hokusai_announce_only"].params)
    # Each parse builds new DAG objects (as each parse of a DAG file does): a run's conf cannot leak into the next.
    again = dags_of(ONE_LINE_FILE.read_text())
    assert all(again[dag_id] is not dags[dag_id] for dag_id in PROVIDER_DAG_IDS)


def test_the_pages_default_dags_are_the_shipped_ones() -> None:
    options = get_provider_info()["config"]["hokusai"]["options"]
    assert {options["ui_reconcile_dag_id"]["default"], options["ui_retry_dag_id"]["default"]} <= PROVIDER_DAG_IDS


def test_a_factory_builds_its_dag_alone_with_other_settings() -> None:
    from airflow_provider_hokusai.dags.reconcile import reconcile_announcements_dag

    dags = dags_of(
        "from airflow_provider_hokusai.dags.reconcile import reconcile_announcements_dag\n"
        "dag = reconcile_announcements_dag(dag_id='my_reconcile', schedule=None, queue_conn_id='my_queue')\n"
    )
    assert list(dags) == ["my_reconcile"]
    (task,) = dags["my_reconcile"].tasks
    assert (dags["my_reconcile"].schedule, task.queue_conn_id) == (None, "my_queue")
    assert reconcile_announcements_dag().schedule == "@hourly"


def test_every_factory_takes_the_same_settings_and_keeps_its_own_defaults() -> None:
    from airflow.sdk import Asset

    from airflow_provider_hokusai.dags.registry_events import registry_events_dag

    shipped = registry_events_dag()
    assert shipped.schedule == [Asset("hokusai_model_version_registered")]
    assert "Connections: ``mlflow_default``" in (shipped.doc_md or "")
    manual = registry_events_dag(dag_id="events_by_hand", schedule=None, mlflow_conn_id="m", queue_conn_id="q")
    assert (manual.dag_id, manual.schedule) == ("events_by_hand", None)
    # Each DAG built gets its own params: a change to one DAG's cannot reach the next one built.
    assert manual.params.get_param("queue_name") is not shipped.params.get_param("queue_name")

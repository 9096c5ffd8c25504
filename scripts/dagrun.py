"""Run an example DAG for real with ``dag.test()`` and report what happened, for the demo and the system tests.

Airflow 3.3.2's ``dag.test()`` raises at the very end of a run of any DAG that declares ``deadline=``: when it marks
the run finished it looks the deadline alerts up by id, but the in-memory serialized DAG holds their definitions
instead of ids (``StatementError: 'dict' object has no attribute 'hex'``). Every task has run by then, so this
module recognises exactly that error, and reads the task states and return values from the metadata database.

``dag.test()`` runs the tasks in this process, on the DAG's own task objects, and a run's ``conf`` is merged into
those tasks' params in place; a second run on the same object would inherit the first run's conf. So every run here
loads the DAG file afresh, as each of a real worker's task processes would.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAGS_FOLDER = Path(__file__).resolve().parent.parent / "dags"


@dataclass
class DagTestResult:
    dag_id: str
    run_id: str
    states: dict[str, str]
    returns: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return bool(self.states) and all(state == "success" for state in self.states.values())


def load_dag(file_name: str, dag_id: str | None = None) -> Any:
    """
    Import a DAG file from ``dags/`` the way the DAG processor would, and return its ``dag``, or its DAG ``dag_id``
    (a file may define several: ``hokusai_provider_dags.py`` holds the provider's four).

    Like the DAG processor (and the task runner), this puts the DAGs folder on ``sys.path`` first, so the DAG's
    tasks can import the helpers beside it (``hokusai_examples``).
    """
    if str(DAGS_FOLDER) not in sys.path:
        sys.path.append(str(DAGS_FOLDER))
    path = DAGS_FOLDER / file_name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    if dag_id is None:
        return module.dag
    from airflow.sdk import DAG

    (dag,) = [value for value in vars(module).values() if isinstance(value, DAG) and value.dag_id == dag_id]
    return dag


def _is_known_deadline_crash(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return "deadline_alert" in text and "'dict' object has no attribute 'hex'" in text


def run_dag_test(file_name: str, run_conf: dict[str, Any] | None = None, dag_id: str | None = None) -> DagTestResult:
    """
    Run the DAG of ``dags/<file_name>`` (its DAG ``dag_id`` when it defines several) once in-process; return every
    task's final state and return value.
    """
    from airflow.models import DagRun, TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag = load_dag(file_name, dag_id)
    try:
        run = dag.test(run_conf=run_conf)
        run_id = run.run_id
    except Exception as exc:
        if not _is_known_deadline_crash(exc):
            raise
        with create_session() as session:
            run_id = session.scalars(
                select(DagRun.run_id).where(DagRun.dag_id == dag.dag_id).order_by(DagRun.id.desc()).limit(1)
            ).one()
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run_id)
        ).all()
        states = {ti.task_id: str(ti.state) for ti in tis}
        xcoms = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag.dag_id, XComModel.run_id == run_id, XComModel.key == "return_value"
            )
        ).all()
        returns = {x.task_id: XComModel.deserialize_value(x) for x in xcoms}
    return DagTestResult(dag_id=dag.dag_id, run_id=run_id, states=states, returns=returns)


def main(argv: list[str] | None = None) -> int:
    """``python -m scripts.dagrun FILE [--conf JSON]``: run one DAG in a fresh process; JSON result on stdout."""
    parser = argparse.ArgumentParser(prog="python -m scripts.dagrun", description=main.__doc__)
    parser.add_argument("file_name", help="DAG file in dags/, e.g. hokusai_model_release.py")
    parser.add_argument("--conf", default="{}", help="the run's conf, as JSON")
    parser.add_argument("--dag-id", default=None, help="the DAG to run, when the file defines several")
    args = parser.parse_args(argv)
    # stdout carries only the result; Airflow's task logs go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        result = run_dag_test(args.file_name, run_conf=json.loads(args.conf), dag_id=args.dag_id)
    print(json.dumps({"run_id": result.run_id, "states": result.states, "returns": result.returns}, default=str))
    return 0 if result.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())

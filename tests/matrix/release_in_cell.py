"""
A release run inside a matrix cell: run by the cell's own interpreter (its Airflow, mlflow-skinny and the wheel),
never imported by the test process. It is copied into the cell's DAGs folder (``dag.test()`` runs only DAGs
serialized from a bundle) and run as a script.

The DAG: ``validate`` (MLflowBaselineSensor on the run ``HOKUSAI_MATRIX_RUN_ID``, accuracy over 0.9) → for each
backend of ``HOKUSAI_MATRIX_BACKENDS`` (``redis``, ``amazon``) ``register_<backend>`` (RegisterModelOperator, a
model ``<HOKUSAI_MATRIX_MODEL>-<backend>``) → ``announce_<backend>`` (PublishModelReadyOperator on the connection
``hokusai_<backend>``). Connections come from ``AIRFLOW_CONN_*`` variables set by the test. ``dag.test()`` runs it
in this process; the last line printed is the JSON ``{task_id: state}``.
"""

from __future__ import annotations

import json
import os

import pendulum
from airflow.sdk import DAG

from airflow_provider_hokusai.operators.mlflow import RegisterModelOperator
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor

# Parsed by the DAGs folder's sync too (dag.test() serializes the folder's DAGs first): defaults, not KeyErrors.
RUN_ID = os.environ.get("HOKUSAI_MATRIX_RUN_ID", "unset")
MODEL = os.environ.get("HOKUSAI_MATRIX_MODEL", "unset")
BACKENDS = [b for b in os.environ.get("HOKUSAI_MATRIX_BACKENDS", "").split(",") if b]

with DAG(dag_id="hokusai_matrix_release", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
    validate = MLflowBaselineSensor(
        task_id="validate",
        run_id=RUN_ID,
        metric_name="accuracy",
        baseline_value=0.9,
        mode="poke",
        poke_interval=1,
        timeout=120,
    )
    for backend in BACKENDS:
        register = RegisterModelOperator(
            task_id=f"register_{backend}",
            model_uri=f"runs:/{RUN_ID}/model",
            registered_model_name=f"{MODEL}-{backend}",
            token_symbol="HKM",
            evidence=validate.output,
        )
        announce = PublishModelReadyOperator(
            task_id=f"announce_{backend}",
            model_name=f"{MODEL}-{backend}",
            model_version=f"{{{{ ti.xcom_pull(task_ids='register_{backend}')['model_version'] }}}}",
            queue_conn_id=f"hokusai_{backend}",
        )
        validate >> register >> announce


if __name__ == "__main__":
    dag_run = dag.test()
    print(json.dumps({ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}))

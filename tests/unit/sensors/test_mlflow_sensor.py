"""MLflowBaselineSensor without a server: rendered-input handling, and the DAG-parse cost of the MLflow modules."""

from __future__ import annotations

import subprocess
import sys

from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor


def test_templated_numbers_are_converted() -> None:
    op = MLflowBaselineSensor(
        task_id="validate",
        run_id="abc",
        metric_name="accuracy",
        baseline_value="0.9",
        min_improvement="2.5",
        direction="higher",
    )
    criteria = op.criteria()
    assert criteria.baseline_value == 0.9
    assert criteria.min_improvement == 2.5
    assert criteria.order_by == ("attributes.start_time DESC",)
    assert criteria.direction == "higher"  # parsed by compare when the run is decided, as before
    assert {"run_id", "metric_name", "baseline_value", "baseline_alias", "direction"} <= set(op.template_fields)


def test_mlflow_modules_import_without_heavy_libraries() -> None:
    """DAG files that import the provider's MLflow pieces must not pay for mlflow/sklearn at parse time."""
    code = (
        "import sys\n"
        "import airflow_provider_hokusai.hooks.mlflow, airflow_provider_hokusai.sensors.mlflow\n"
        "import airflow_provider_hokusai.triggers.mlflow, airflow_provider_hokusai.operators.mlflow\n"
        "import airflow_provider_hokusai.links\n"
        "print(sorted(m for m in ('mlflow', 'sklearn', 'boto3', 'redis') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"

"""The provider as Airflow's own CLI sees it, in a fresh process: listed, with its connection type and hooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def airflow_json(*args: str) -> Any:
    done = subprocess.run(
        [AIRFLOW, *args, "--output", "json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=180,
        check=True,
    )
    return json.loads(done.stdout)


def test_airflow_providers_list_shows_the_provider() -> None:
    providers = {p["package_name"]: p for p in airflow_json("providers", "list")}

    assert "airflow-provider-hokusai" in providers
    assert "MLflow" in providers["airflow-provider-hokusai"]["description"]


def test_airflow_knows_the_mlflow_connection_type_and_its_hook() -> None:
    hooks = {h["connection_type"]: h for h in airflow_json("providers", "hooks")}

    assert hooks["mlflow"]["class"] == "airflow_provider_hokusai.hooks.mlflow.MLflowHook"
    assert hooks["mlflow"]["package_name"] == "airflow-provider-hokusai"

"""
The plugin under Airflow's default configuration and under eager provider discovery: loaded once, without an error.

Each case runs Airflow's own plugins managers (the API server's and the Task SDK's) in a fresh process, as they cache
what they load and read ``[core] lazy_discover_providers`` when ``airflow.settings`` is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json
from airflow import plugins_manager as core
from airflow.sdk import plugins_manager as sdk
plugins, errors = core._get_plugins()
sdk_plugins, sdk_errors = sdk._get_plugins()
print(json.dumps({
    "core": [p.name for p in plugins], "core_errors": errors,
    "sdk": [p.name for p in sdk_plugins], "sdk_errors": sdk_errors,
    "mounts": [app["url_prefix"] for app in core.get_fastapi_plugins()[0]],
    "views": [view["url_route"] for view in core._get_ui_plugins()[0]],
}))
"""


def load_plugins(tmp_path: Path, lazy: str | None) -> tuple[dict[str, object], str]:
    """What both plugins managers load in a fresh process; ``lazy`` None leaves Airflow's default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__CORE__LAZY")}
    env |= {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(tmp_path / "plugins")
    if lazy is not None:
        env["AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS"] = lazy
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.parametrize("lazy", [None, "False"], ids=["airflow-defaults", "eager-provider-discovery"])
def test_the_plugin_loads_once_without_an_error(tmp_path: Path, lazy: str | None) -> None:
    loaded, stderr = load_plugins(tmp_path, lazy)
    assert loaded["core"] == ["hokusai"] and loaded["sdk"] == ["hokusai"], loaded
    assert (loaded["core_errors"], loaded["sdk_errors"]) == ({}, {}), loaded
    assert loaded["mounts"] == ["/hokusai/webhooks", "/hokusai/ui", "/hokusai"], loaded
    assert loaded["views"] == ["hokusai"], loaded
    assert "already registered" not in stderr


def test_importing_the_provider_changes_no_warnings_filter() -> None:
    # Airflow and the official SQS hook first: they set filters of their own when imported.
    probe = (
        "import warnings, airflow.providers.amazon.aws.hooks.sqs; before = list(warnings.filters); "
        "import airflow_provider_hokusai, airflow_provider_hokusai.hooks.sqs; print(warnings.filters == before)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip().splitlines()[-1:] == ["True"], done.stderr[-2000:]

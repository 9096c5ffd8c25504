"""
Session-wide test set-up: an isolated AIRFLOW_HOME, the DAGs folder importable as Airflow makes it (its helpers,
``hokusai_examples``, are imported by the example DAGs and by the tests), and the real-server fixtures.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO_ROOT / "dags"
if str(DAGS_FOLDER) not in sys.path:
    sys.path.append(str(DAGS_FOLDER))

# Airflow reads its configuration at import time, so the isolated home must exist before anything imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="hokusai-airflow-home-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}")

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.sqs",
    "tests.fixtures.mlflow",
    "tests.fixtures.statsd",
]

"""Fixtures for running the example DAGs for real: a migrated Airflow metadata database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """Airflow's sqlite metadata database in the session's isolated AIRFLOW_HOME, migrated once."""
    home = Path(os.environ["AIRFLOW_HOME"])
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
    )
    yield home / "airflow.db"

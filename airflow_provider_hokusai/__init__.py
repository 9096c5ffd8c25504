"""Apache Airflow provider for the Hokusai ML platform."""

from __future__ import annotations

__version__ = "0.1.0"

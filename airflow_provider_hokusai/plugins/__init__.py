"""Inside the Airflow API server: the Hokusai plugin, the health endpoint, the page and the webhook receiver."""

from __future__ import annotations

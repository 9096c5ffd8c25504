"""The committed JSON Schema of the contract, and a way to regenerate it from the model.

Run ``python -m airflow_provider_hokusai.messages`` after changing the model; a test fails while the
committed file and the model disagree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_PATH", "load_schema", "render_schema"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "model_ready_to_deploy.v1.json"


def render_schema() -> str:
    """The schema generated from the model, as the text committed to the repository."""
    from airflow_provider_hokusai.messages.model_ready import ModelReadyToDeployMessage

    return json.dumps(ModelReadyToDeployMessage.json_schema(), indent=2, sort_keys=True) + "\n"


@cache
def load_schema() -> dict[str, Any]:
    """The committed JSON Schema of ``model_ready_to_deploy`` 1.0."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema

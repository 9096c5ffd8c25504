"""``python -m airflow_provider_hokusai.messages``: regenerate the committed JSON Schema from the model."""

from __future__ import annotations

from airflow_provider_hokusai.messages.schema import SCHEMA_PATH, render_schema

if __name__ == "__main__":
    SCHEMA_PATH.write_text(render_schema())
    print(f"wrote {SCHEMA_PATH}")

"""The `model_ready_to_deploy` contract with the token deployer: the message, its limits and its JSON Schema."""

from __future__ import annotations

from airflow_provider_hokusai.messages.limits import MAX_SAFE_INTEGER, parse_tag_number
from airflow_provider_hokusai.messages.model_ready import (
    MESSAGE_ID_TAG,
    MESSAGE_TYPE,
    MESSAGE_VERSION,
    ModelReadyToDeployMessage,
    build_model_ready_message,
    message_id_for,
    utc_now_timestamp,
)
from airflow_provider_hokusai.messages.schema import SCHEMA_PATH, load_schema

__all__ = [
    "MAX_SAFE_INTEGER",
    "MESSAGE_ID_TAG",
    "MESSAGE_TYPE",
    "MESSAGE_VERSION",
    "SCHEMA_PATH",
    "ModelReadyToDeployMessage",
    "build_model_ready_message",
    "load_schema",
    "message_id_for",
    "parse_tag_number",
    "utc_now_timestamp",
]

"""The ``model_ready_to_deploy`` message, version ``1.0``: the contract with Hokusai's token deployer.

The deployer pops each message from its queue and validates it as a flat JSON object, rejecting unknown keys,
so this model is strict both ways: it accepts exactly what it emits. Absent optional fields are left out of the
JSON (never ``null``) and non-finite numbers are refused.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from airflow_provider_hokusai.exceptions import InvalidInputError, InvalidModelReadyMessage
from airflow_provider_hokusai.gate.baseline import Direction, compare
from airflow_provider_hokusai.messages.limits import (
    MAX_SAFE_INTEGER,
    NOT_BLANK_PATTERN,
    SAFE_NUMBER_RULE,
    deployer_text,
)
from airflow_provider_hokusai.utils.validation import field_errors

__all__ = [
    "CONTRIBUTOR_ADDRESS_PATTERN",
    "MAX_NAME_LENGTH",
    "MAX_TAGS",
    "MAX_TAG_VALUE_LENGTH",
    "MESSAGE_ID_TAG",
    "MESSAGE_TYPE",
    "MESSAGE_VERSION",
    "TOKEN_SYMBOL_PATTERN",
    "ModelReadyToDeployMessage",
    "build_model_ready_message",
    "message_id_for",
    "utc_now_timestamp",
]

MESSAGE_TYPE = "model_ready_to_deploy"
MESSAGE_VERSION = "1.0"
TOKEN_SYMBOL_PATTERN = r"^[A-Z0-9-]{1,10}$"
CONTRIBUTOR_ADDRESS_PATTERN = r"^0x[a-fA-F0-9]{40}$"
# [0-9], not \d: \d is any script's digit in Python and Rust regexes, ASCII only in the deployer's JavaScript.
_TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"
MESSAGE_ID_TAG = "message_id"
MAX_TAGS = 50
_MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 1024
MAX_NAME_LENGTH = 512
_MAX_VERSION_LENGTH = 64

# A fixed namespace: the same (model_name, model_version) yields the same message id on every machine, forever.
_MESSAGE_ID_NAMESPACE = uuid.UUID("5d2c3c9e-6f0a-5b8e-9a51-6b6f6b757361")


def message_id_for(model_name: str, model_version: str | int) -> str:
    """Deterministic message id (UUIDv5) of the announcement of one registered model version."""
    return str(uuid.uuid5(_MESSAGE_ID_NAMESPACE, json.dumps([model_name, str(model_version)])))


def _upper(value: Any) -> Any:
    # ASCII only: str.upper() folds "\u0131" (dotless i) to "I" and "\u00df" to "SS", which would turn a non-ASCII
    # symbol into a valid, different one; left as they are, such symbols fail the pattern.
    return value.upper() if isinstance(value, str) and value.isascii() else value


def _version_to_str(value: Any) -> Any:
    # MLflow's client hands versions back as str, its entities sometimes as int; both mean the same version.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _utc_timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetime must be timezone-aware (UTC)")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def utc_now_timestamp() -> str:
    """Current time as the contract's ISO 8601 UTC string with ``Z`` (microseconds, as ``_utc_timestamp`` writes)."""
    # isoformat is about twice as strftime, and this runs on every publish.
    return datetime.now(UTC).isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


# Lengths are checked twice: in code points by pydantic (what the JSON Schema can say) and in UTF-16 code units by
# deployer_text (what the deployer's JavaScript counts). Names and ids must not be blank: the deployer trims them.
_NonBlankStr = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME_LENGTH, json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
    AfterValidator(deployer_text(MAX_NAME_LENGTH, not_blank=True)),
]
# Joi.number() refuses unsafe numbers: beyond 2^53 - 1 the deployer would answer "number.unsafe".
_PositiveNumber = Annotated[float, Field(gt=0, le=MAX_SAFE_INTEGER, allow_inf_nan=False, strict=True)]
_TagKey = Annotated[
    str, Field(min_length=1, max_length=_MAX_TAG_KEY_LENGTH), AfterValidator(deployer_text(_MAX_TAG_KEY_LENGTH))
]
# Joi.string() refuses "" unless allow("") is set: a tag value is a non-empty string.
_TagValue = Annotated[
    str, Field(min_length=1, max_length=MAX_TAG_VALUE_LENGTH), AfterValidator(deployer_text(MAX_TAG_VALUE_LENGTH))
]

_OPTIONAL_FIELDS = ("contributor_address", "experiment_name", "tags")


def _wire_schema(schema: dict[str, Any]) -> None:
    # Optional fields are omitted on the wire, never null: a "default": null in the schema would suggest otherwise.
    for prop in schema.get("properties", {}).values():
        if prop.get("default", ...) is None:
            del prop["default"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://hokusai.ai/schemas/model_ready_to_deploy/1.0.json"
    schema["description"] = (
        "Announcement that a registered model version beat its baseline and is ready for token deployment."
    )


class ModelReadyToDeployMessage(BaseModel):
    """
    One announcement that a registered model version beat its baseline and is ready for token deployment.

    Build it with :func:`build_model_ready_message` (which computes the improvement and the message id), or
    validate a received payload with :meth:`from_json`. Serialize with :meth:`to_json` / :meth:`to_dict`.
    """

    model_config = ConfigDict(
        defer_build=True,  # built on first use, not when a DAG file imports the operators
        frozen=True,
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        title=MESSAGE_TYPE,
        json_schema_extra=_wire_schema,
    )

    model_id: _NonBlankStr = Field(description="Stable identity of the model across versions.")
    token_symbol: Annotated[str, BeforeValidator(_upper), Field(pattern=TOKEN_SYMBOL_PATTERN)] = Field(
        description="Symbol of the model's token; upper case."
    )
    metric_name: _NonBlankStr = Field(description="Name of the benchmark metric.")
    baseline_value: _PositiveNumber = Field(description="Baseline value the model had to beat.")
    current_value: _PositiveNumber = Field(description="The model version's value of the metric.")
    model_name: _NonBlankStr = Field(description="Registered model name in MLflow.")
    model_version: Annotated[
        str,
        BeforeValidator(_version_to_str),
        Field(min_length=1, max_length=_MAX_VERSION_LENGTH, json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
        AfterValidator(deployer_text(_MAX_VERSION_LENGTH, not_blank=True)),
    ] = Field(description="Registered model version, as a string.")
    mlflow_run_id: _NonBlankStr = Field(description="MLflow run that produced the model.")
    improvement_percentage: _PositiveNumber = Field(
        description="Direction-aware improvement over the baseline, in percent of the baseline."
    )
    contributor_address: Annotated[str, Field(pattern=CONTRIBUTOR_ADDRESS_PATTERN)] | SkipJsonSchema[None] = Field(
        default=None, description="Contributor's wallet address."
    )
    experiment_name: _NonBlankStr | SkipJsonSchema[None] = Field(default=None, description="MLflow experiment.")
    tags: Annotated[dict[_TagKey, _TagValue], Field(max_length=MAX_TAGS)] | SkipJsonSchema[None] = Field(
        default=None, description="Extensibility slot for string metadata; carries message_id."
    )
    timestamp: Annotated[str, BeforeValidator(_utc_timestamp), Field(pattern=_TIMESTAMP_PATTERN)] = Field(
        description="ISO 8601 UTC time of the announcement, ending in Z."
    )
    message_version: Literal["1.0"] = Field(description="Contract version; exactly 1.0.")

    @field_validator(*_OPTIONAL_FIELDS, mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        # The deployer's schema has no null: an absent optional field is left out of the JSON, never sent as null.
        if value is None:
            raise ValueError("must be omitted rather than null")
        return value

    @field_validator("timestamp")
    @classmethod
    def _real_time(cls, value: str) -> str:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value

    @field_validator("tags")
    @classmethod
    def _message_id_matches(cls, value: dict[str, str] | None, info: ValidationInfo) -> dict[str, str] | None:
        # model_name and model_version are declared before tags, so they are validated by now (absent when invalid,
        # and then their own error is reported).
        if value and MESSAGE_ID_TAG in value and {"model_name", "model_version"} <= info.data.keys():
            expected = message_id_for(info.data["model_name"], info.data["model_version"])
            if value[MESSAGE_ID_TAG] != expected:
                raise ValueError(
                    f"tags.{MESSAGE_ID_TAG} must be the deterministic id of (model_name, model_version): {expected}"
                )
        return value

    @property
    def message_id(self) -> str:
        """Deterministic id of this announcement; consumers and the queue hooks deduplicate on it."""
        # The tag, when present, was checked against the computed id at validation: reading it saves a hash.
        return (self.tags or {}).get(MESSAGE_ID_TAG) or message_id_for(self.model_name, self.model_version)

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object, absent optional fields left out."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> str:
        """Compact JSON exactly as it goes on the wire."""
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_json(cls, payload: str | bytes | Mapping[str, Any]) -> ModelReadyToDeployMessage:
        """Validate a received payload (JSON text or an already decoded object)."""
        try:
            if isinstance(payload, str | bytes):
                return cls.model_validate_json(payload)
            return cls.model_validate(dict(payload))
        except ValidationError as exc:
            raise InvalidModelReadyMessage(_field_errors(exc)) from None

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the wire format (the committed ``schemas/model_ready_to_deploy.v1.json``)."""
        return cls.model_json_schema(mode="serialization")


def _field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    # Optional fields are "value | None" unions; null is refused by _no_null, so the None branch's complaint is noise.
    return field_errors(exc, unions=_OPTIONAL_FIELDS, root="message", rules=_CONTRACT_RULES)


_CONTRACT_RULES = {
    "extra_forbidden": "unknown key; the contract allows no other keys",
    "less_than_equal": SAFE_NUMBER_RULE,
}


def build_model_ready_message(
    *,
    model_name: str,
    model_version: str | int,
    mlflow_run_id: str,
    token_symbol: str,
    metric_name: str,
    current_value: float,
    baseline_value: float,
    direction: str | Direction | None = None,
    model_id: str | None = None,
    contributor_address: str | None = None,
    experiment_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    timestamp: str | datetime | None = None,
) -> ModelReadyToDeployMessage:
    """
    Build and validate a ``model_ready_to_deploy`` message.

    The improvement percentage comes from :func:`airflow_provider_hokusai.gate.baseline.compare` (direction inferred
    from the metric name unless given); ``model_id`` defaults to the registered model name; ``tags`` gain the
    deterministic ``message_id``; ``timestamp`` defaults to now (UTC).

    :raises InvalidModelReadyMessage: naming every failing field and its rule; nothing is built.
    """
    errors: list[tuple[str, str]] = []
    improvement: float = math.nan
    try:
        comparison = compare(metric_name, current_value, baseline_value, direction=direction)
        improvement = comparison.improvement_percentage
        if not comparison.passed:
            errors.append(("improvement_percentage", f"must be > 0; {comparison.reason}"))
    except InvalidInputError as exc:
        errors.extend(exc.errors)
        # The improvement is undefined when its inputs are invalid; that is already reported above.
        errors_on_derived = ("improvement_percentage", "cannot be computed from invalid metric values")
        if not any(field in ("current_value", "baseline_value") for field, _ in exc.errors):
            errors.append(errors_on_derived)

    all_tags = dict(tags or {})
    if isinstance(model_name, str) and isinstance(model_version, str | int) and not isinstance(model_version, bool):
        all_tags.setdefault(MESSAGE_ID_TAG, message_id_for(model_name, model_version))
    fields: dict[str, Any] = {
        "model_id": model_id if model_id is not None else model_name,
        "token_symbol": token_symbol,
        "metric_name": metric_name,
        "baseline_value": baseline_value,
        "current_value": current_value,
        "model_name": model_name,
        "model_version": model_version,
        "mlflow_run_id": mlflow_run_id,
        "improvement_percentage": improvement,
        "contributor_address": contributor_address,
        "experiment_name": experiment_name,
        "tags": all_tags,
        "timestamp": timestamp if timestamp is not None else utc_now_timestamp(),
        "message_version": MESSAGE_VERSION,
    }
    # None means "absent" for the optional fields of a builder call.
    fields = {k: v for k, v in fields.items() if not (k in _OPTIONAL_FIELDS and v is None)}
    try:
        message = ModelReadyToDeployMessage.model_validate(fields)
    except ValidationError as exc:
        seen = {field for field, _ in errors} | ({"improvement_percentage"} if math.isnan(improvement) else set())
        errors.extend(e for e in _field_errors(exc) if e[0] not in seen)
    if errors:
        raise InvalidModelReadyMessage(errors)
    return message

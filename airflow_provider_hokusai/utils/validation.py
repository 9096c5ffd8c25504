"""The one adapter from pydantic's validation errors to the provider's typed errors.

Every input the provider accepts (operator and sensor arguments after templating, connection extras, ``[hokusai]``
options, the contract message) is a pydantic model; :func:`validate` turns a failure into the matching
:class:`~airflow_provider_hokusai.exceptions.InvalidInputError` subclass, naming every failing field and its rule.
The input values themselves never reach the error text, so a secret in a bad field cannot leak through it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from airflow_provider_hokusai.exceptions import InvalidInputError

__all__ = ["field_errors", "validate", "validate_attributes"]

M = TypeVar("M", bound=BaseModel)


def field_errors(
    exc: ValidationError,
    *,
    prefix: str = "",
    unions: Collection[str] = (),
    root: str = "input",
    rules: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """
    ``(field, rule)`` pairs of a pydantic error, with dotted field names.

    :param prefix: Put before every field name (``"extra."`` for connection extras).
    :param unions: Fields typed ``X | None``: pydantic reports their errors under the union branch's name, which is
        not a field and is dropped; the ``None`` branch's complaint is dropped too (null is refused elsewhere).
    :param root: The name of an error about the whole input rather than one field.
    :param rules: Rule texts that replace pydantic's, by error type (e.g. ``"extra_forbidden"``).
    """
    rules = {"extra_forbidden": "unknown key; no other keys are allowed", **(rules or {})}
    errors: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        parts = list(err["loc"])
        if parts and parts[0] in unions and len(parts) > 1:
            if err["type"] == "none_required":
                continue
            del parts[1]
        loc = ".".join(str(p) for p in parts)
        rule = rules.get(err["type"]) or err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        errors.append((f"{prefix}{loc}" if loc else prefix.rstrip(".") or root, rule))
    return errors


def validate(
    model: type[M],
    data: Mapping[str, Any],
    error: type[InvalidInputError],
    *,
    subject: str | None = None,
    prefix: str = "",
    context: dict[str, Any] | None = None,
) -> M:
    """
    ``model`` validated from ``data``, or ``error`` naming every failing field.

    :param model: The pydantic model of the input.
    :param data: The raw values, e.g. rendered operator arguments or a connection's extra.
    :param error: The typed error to raise: ``InvalidInputError`` or a subclass.
    :param subject: What the input is, for the error's text (``"mlflow connection"``); the error class's own if None.
    :param prefix: Put before every field name in the error (``"extra."`` for connection extras).
    :param context: pydantic validation context, for validators that need more than the value.
    """
    try:
        return model.model_validate(dict(data), context=context)
    except ValidationError as exc:
        raise error(field_errors(exc, prefix=prefix), subject=subject) from None


def validate_attributes(
    model: type[M], owner: object, error: type[InvalidInputError], *, subject: str | None = None
) -> M:
    """
    ``model`` validated from the attributes of ``owner`` named like its fields: an operator's or a sensor's
    arguments after templating, when the model's fields are the arguments it checks.

    :param model: The pydantic model of the input; each of its fields must be an attribute of ``owner``.
    :param owner: The object holding the raw values, e.g. the operator after rendering.
    :param error: The typed error to raise: ``InvalidInputError`` or a subclass.
    :param subject: What the input is, for the error's text; the error class's own if None.
    """
    return validate(model, {name: getattr(owner, name) for name in model.model_fields}, error, subject=subject)

"""A registered model version as the provider reads it, whichever way it was read: pure values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RegistryVersion"]


def _millis(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


@dataclass(frozen=True)
class RegistryVersion:
    """
    One model version: from MLflow's REST API (:meth:`from_rest`) or from a local store's entity (:meth:`from_entity`).

    :param creation_timestamp: Milliseconds since the epoch, as MLflow keeps it; None when unknown.
    :param status: ``READY``, ``PENDING_REGISTRATION`` or ``FAILED_REGISTRATION``; None when the read did not say.
    :param source: Where the version's files come from (``models:/m-...``, ``runs:/...``).
    """

    name: str
    version: str
    creation_timestamp: int | None = None
    run_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str | None = None
    status_message: str | None = None
    source: str | None = None
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None

    @classmethod
    def from_rest(cls, item: Mapping[str, Any]) -> RegistryVersion:
        """From a REST answer's ``model_version`` (tags as a list of ``{key, value}``)."""
        return cls(
            name=str(item.get("name", "")),
            version=str(item.get("version", "")),
            creation_timestamp=_millis(item.get("creation_timestamp")),
            run_id=item.get("run_id") or None,
            tags={str(tag.get("key")): str(tag.get("value", "")) for tag in item.get("tags") or []},
            status=item.get("status") or None,
            status_message=item.get("status_message") or None,
            source=item.get("source") or None,
            aliases=[str(alias) for alias in item.get("aliases") or []],
            model_id=item.get("model_id") or None,
        )

    @classmethod
    def from_entity(cls, version: Any) -> RegistryVersion:
        """From an ``mlflow.entities.model_registry.ModelVersion``."""
        return cls(
            name=str(version.name),
            version=str(version.version),
            creation_timestamp=_millis(getattr(version, "creation_timestamp", None)),
            run_id=getattr(version, "run_id", None) or None,
            tags=dict(version.tags or {}),
            status=str(version.status) if getattr(version, "status", None) else None,
            status_message=getattr(version, "status_message", None) or None,
            source=getattr(version, "source", None) or None,
            aliases=list(getattr(version, "aliases", None) or []),
            model_id=getattr(version, "model_id", None) or None,
        )

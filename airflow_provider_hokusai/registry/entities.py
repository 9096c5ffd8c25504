"""
MLflow's entities as the provider reads them over MLflow's REST API or from a local store: pure values, no I/O.

A model version (:class:`RegistryVersion`), a run (:class:`TrackedRun`, shaped as MLflow's ``Run``: ``info`` and
``data``), an experiment (:class:`TrackedExperiment`) and a search page of them (:class:`Page`). Each ``of`` reads
either the JSON object MLflow's REST API answers or MLflow's own entity: both name their fields alike, and differ
only in how tags, params and metrics are held (a list of ``{key, value}`` objects, or a dict).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Page", "RegistryVersion", "RunData", "RunInfo", "TrackedExperiment", "TrackedRun"]

T = TypeVar("T")


class Page(list[T]):
    """One page of a search and the ``token`` of the next one (None on the last), as MLflow's ``PagedList``."""

    def __init__(self, items: Iterable[T] = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


def _field(source: Any, name: str) -> Any:
    """Field ``name`` of a REST JSON object or an MLflow entity."""
    return source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)


def _text(source: Any, name: str) -> str | None:
    value = _field(source, name)
    return str(value) if value not in (None, "") else None


def _millis(source: Any, name: str) -> int | None:
    value = _field(source, name)
    return int(value) if value not in (None, "") else None


def _pairs(value: Any) -> dict[str, str]:
    """Tags or params: an entity's dict, or the REST answer's list of ``{key, value}``."""
    if isinstance(value, Mapping):
        return {str(key): str(item) for key, item in value.items()}
    return {str(item.get("key")): str(item.get("value", "")) for item in value or []}


def _metrics(value: Any) -> dict[str, float]:
    """Each metric's latest value: an entity's dict, or the REST answer's list of ``{key, value, step, ...}``."""
    if isinstance(value, Mapping):
        return {str(key): float(item) for key, item in value.items()}
    return {str(item.get("key")): float(item.get("value")) for item in value or []}


@dataclass(frozen=True)
class RegistryVersion:
    """
    One model version.

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
    def of(cls, version: Any) -> RegistryVersion:
        """From a REST answer's ``model_version`` or an ``mlflow.entities.model_registry.ModelVersion``."""
        return cls(
            name=_text(version, "name") or "",
            version=_text(version, "version") or "",
            creation_timestamp=_millis(version, "creation_timestamp"),
            run_id=_text(version, "run_id"),
            tags=_pairs(_field(version, "tags")),
            status=_text(version, "status"),
            status_message=_text(version, "status_message"),
            source=_text(version, "source"),
            aliases=[str(alias) for alias in _field(version, "aliases") or []],
            model_id=_text(version, "model_id"),
        )


@dataclass(frozen=True)
class RunInfo:
    """A run's ``info``: what the gate reads of it (``status``: ``RUNNING``, ``FINISHED``, ``FAILED``...)."""

    run_id: str
    status: str
    experiment_id: str


@dataclass(frozen=True)
class RunData:
    """A run's ``data``: each metric's latest value, its params and tags."""

    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackedRun:
    """A run; the attributes the provider reads are those of MLflow's ``Run``."""

    info: RunInfo
    data: RunData

    @classmethod
    def of(cls, run: Any) -> TrackedRun:
        """From a REST answer's ``run`` or an ``mlflow.entities.Run``."""
        info, data = _field(run, "info"), _field(run, "data") or {}
        return cls(
            RunInfo(_text(info, "run_id") or "", _text(info, "status") or "", _text(info, "experiment_id") or ""),
            RunData(_metrics(_field(data, "metrics")), _pairs(_field(data, "params")), _pairs(_field(data, "tags"))),
        )


@dataclass(frozen=True)
class TrackedExperiment:
    """An experiment."""

    experiment_id: str
    name: str
    artifact_location: str | None = None

    @classmethod
    def of(cls, experiment: Any) -> TrackedExperiment:
        """From a REST answer's ``experiment`` or an ``mlflow.entities.Experiment``."""
        return cls(
            _text(experiment, "experiment_id") or "",
            _text(experiment, "name") or "",
            _text(experiment, "artifact_location"),
        )

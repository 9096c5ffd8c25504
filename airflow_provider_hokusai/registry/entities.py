"""
MLflow's entities as the provider reads them over MLflow's REST API or from a local store: pure values, no I/O.

A model version (:class:`RegistryVersion`), a run (:class:`TrackedRun`, shaped as MLflow's ``Run``: ``info`` and
``data``), an experiment (:class:`TrackedExperiment`) and a search page of them (:class:`Page`); each ``from_rest``
reads the JSON MLflow's REST API answers, each ``from_entity`` MLflow's own entity.
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


def _millis(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _pairs(items: Any) -> dict[str, str]:
    """MLflow's ``[{key, value}, ...]`` as a dict."""
    return {str(item.get("key")): str(item.get("value", "")) for item in items or []}


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
            tags=_pairs(item.get("tags")),
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


@dataclass(frozen=True)
class RunInfo:
    """A run's ``info``: what the gate reads of it (``status``: ``RUNNING``, ``FINISHED``, ``FAILED``...)."""

    run_id: str
    status: str
    experiment_id: str
    lifecycle_stage: str | None = None
    start_time: int | None = None
    end_time: int | None = None


@dataclass(frozen=True)
class RunData:
    """A run's ``data``: each metric's latest value, its params and tags."""

    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackedRun:
    """A run, as ``runs/get`` answers it; the attributes the provider reads are those of MLflow's ``Run``."""

    info: RunInfo
    data: RunData

    @classmethod
    def from_rest(cls, item: Mapping[str, Any]) -> TrackedRun:
        """From a REST answer's ``run`` (metrics as a list of ``{key, value, timestamp, step}``)."""
        info, data = item.get("info") or {}, item.get("data") or {}
        return cls(
            RunInfo(
                run_id=str(info.get("run_id", "")),
                status=str(info.get("status", "")),
                experiment_id=str(info.get("experiment_id", "")),
                lifecycle_stage=info.get("lifecycle_stage") or None,
                start_time=_millis(info.get("start_time")),
                end_time=_millis(info.get("end_time")),
            ),
            RunData(
                metrics={str(m.get("key")): float(m.get("value")) for m in data.get("metrics") or []},
                params=_pairs(data.get("params")),
                tags=_pairs(data.get("tags")),
            ),
        )

    @classmethod
    def from_entity(cls, run: Any) -> TrackedRun:
        """From an ``mlflow.entities.Run``."""
        info, data = run.info, run.data
        return cls(
            RunInfo(
                run_id=str(info.run_id),
                status=str(info.status),
                experiment_id=str(info.experiment_id),
                lifecycle_stage=getattr(info, "lifecycle_stage", None) or None,
                start_time=_millis(getattr(info, "start_time", None)),
                end_time=_millis(getattr(info, "end_time", None)),
            ),
            RunData(metrics=dict(data.metrics or {}), params=dict(data.params or {}), tags=dict(data.tags or {})),
        )


@dataclass(frozen=True)
class TrackedExperiment:
    """An experiment, as ``experiments/get`` answers it."""

    experiment_id: str
    name: str
    artifact_location: str | None = None
    lifecycle_stage: str | None = None

    @classmethod
    def from_rest(cls, item: Mapping[str, Any]) -> TrackedExperiment:
        """From a REST answer's ``experiment``."""
        return cls(
            experiment_id=str(item.get("experiment_id", "")),
            name=str(item.get("name", "")),
            artifact_location=item.get("artifact_location") or None,
            lifecycle_stage=item.get("lifecycle_stage") or None,
        )

    @classmethod
    def from_entity(cls, experiment: Any) -> TrackedExperiment:
        """From an ``mlflow.entities.Experiment``."""
        return cls(
            experiment_id=str(experiment.experiment_id),
            name=str(experiment.name),
            artifact_location=getattr(experiment, "artifact_location", None) or None,
            lifecycle_stage=getattr(experiment, "lifecycle_stage", None) or None,
        )

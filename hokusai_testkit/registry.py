"""
The one in-memory fake of the MLflow model registry: model versions with tags and registration statuses.

It answers both as :class:`~airflow_provider_hokusai.hooks.mlflow.MLflowHook` (``get_model_version``,
``set_model_version_tags``, ``search_model_versions``, as :class:`~airflow_provider_hokusai.announcement.announcer.
ModelReadyAnnouncer` uses it) and as the hook's registry store (``get_model_version``). It is thread-safe, and
reads return copies, so a reader never sees another thread's half-written tags.

``search_model_versions`` understands the filter forms the provider writes: clauses joined by ``and`` (any case),
each ``name``, ``run_id`` or ``tags.<key>`` (key bare, in backticks or in double quotes), ``=`` or ``!=``, and a
quoted literal (single or double quotes, ``\\'`` escapes). Anything else raises :class:`ValueError` rather than
matching everything silently.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_CLAUSE = re.compile(
    r"""\s*(?P<key>name|run_id|tags\.(?:`[^`]+`|"[^"]+"|[\w.\-]+))"""
    r"""\s*(?P<op>!=|=)\s*"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
    r"""\s*(?:(?P<and>and)\s+|$)""",
    re.IGNORECASE,
)


class Page(list["FakeModelVersion"]):
    """A page of search results and the token of the next one, like MLflow's ``PagedList``."""

    token: str | None = None


@dataclass
class FakeModelVersion:
    """
    A model version as MLflow's ``ModelVersion`` exposes it (the attributes the provider reads).

    :param statuses: Registration statuses the version goes through, one per read; the last one stays.
    """

    name: str
    version: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)
    source: str = ""
    statuses: list[str] = field(default_factory=lambda: ["READY"])
    status_message: str | None = None
    status: str = "READY"


@dataclass(frozen=True)
class FilterClause:
    """One ``field op 'value'`` clause of a search filter; ``field`` is ``name``, ``run_id`` or ``tags.<key>``."""

    field: str
    negated: bool
    value: str

    def matches(self, version: FakeModelVersion) -> bool:
        """Whether ``version`` satisfies the clause (a missing tag never equals anything)."""
        if self.field.startswith("tags."):
            actual: str | None = version.tags.get(self.field.removeprefix("tags."))
        else:
            actual = str(getattr(version, self.field))
        if actual is None:
            return self.negated
        return (actual == self.value) != self.negated


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse_filter(filter_string: str) -> list[FilterClause]:
    """
    Parse a model-version search filter (see the module's docstring for the forms understood).

    :raises ValueError: The filter has a form the fake does not understand.
    """
    text, position, clauses = filter_string.strip(), 0, []
    while position < len(text):
        match = _CLAUSE.match(text, position)
        if match is None or (match["and"] and match.end() >= len(text)):
            raise ValueError(f"filter not understood by the fake registry at {position}: {filter_string!r}")
        key = match["key"]
        if key.lower().startswith("tags."):
            raw = key[len("tags.") :]
            key = "tags." + (raw[1:-1] if raw[:1] in '`"' else raw)
        else:
            key = key.lower()
        clauses.append(FilterClause(key, match["op"] == "!=", _unquote(match["value"])))
        position = match.end()
    return clauses


class FakeMLflowRegistry:
    """
    Model versions in memory, keyed by ``(name, version)``; see the module's docstring.

    :ivar fail_tag_writes: While true, tag writes raise :class:`ConnectionError` (an MLflow outage).
    :ivar reads: How many times each ``(name, version)`` was read with ``get_model_version``.
    """

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], FakeModelVersion] = {}
        self._lock = threading.Lock()
        self.fail_tag_writes = False
        self.reads: Counter[tuple[str, str]] = Counter()

    def add(
        self,
        name: str,
        version: str | int,
        *,
        tags: Mapping[str, str] | None = None,
        run_id: str | None = None,
        statuses: Sequence[str] = ("READY",),
        status_message: str | None = None,
    ) -> FakeModelVersion:
        """
        Register a version.

        :param run_id: Its source run; ``run-<version>`` by default.
        :param statuses: Registration statuses, one per ``get_model_version`` read; the last one stays.
        :return: A copy of the stored version.
        """
        run = run_id if run_id is not None else f"run-{version}"
        stored = FakeModelVersion(
            name=name,
            version=str(version),
            run_id=run,
            tags=dict(tags or {}),
            source=f"runs:/{run}/model",
            statuses=list(statuses) or ["READY"],
            status_message=status_message,
        )
        stored.status = stored.statuses[0]
        with self._lock:
            self._versions[(name, str(version))] = stored
            return copy.deepcopy(stored)

    def add_validated(
        self,
        name: str,
        version: str | int,
        *,
        run_id: str | None = None,
        current: float | None = None,
        baseline: float | None = None,
        **overrides: str | None,
    ) -> FakeModelVersion:
        """
        Register a version carrying the tags of a passed gate (see :func:`hokusai_testkit.mlflow.validated_tags`)
        and its run id tag.

        :param run_id: Its source run; ``run-<version>`` by default.
        :param current: The candidate's metric value (tag written as ``repr``); 0.95 by default.
        :param baseline: The baseline's value (tag written as ``repr``); 0.9 by default.
        :param overrides: Tag → value; None drops that tag.
        """
        from airflow_provider_hokusai.registry import tags as t
        from hokusai_testkit.mlflow import validated_tags

        run = run_id if run_id is not None else f"run-{version}"
        values: dict[str, str | None] = {t.RUN_ID: run}
        if current is not None:
            values[t.CURRENT_VALUE] = repr(current)
        if baseline is not None:
            values[t.BENCHMARK_VALUE] = repr(baseline)
        return self.add(name, version, tags=validated_tags(**{**values, **overrides}), run_id=run)

    def get_model_version(self, name: str, version: str | int) -> FakeModelVersion:
        """
        A copy of the version, with its next registration status.

        :raises KeyError: No such version.
        """
        key = (name, str(version))
        with self._lock:
            stored = self._versions[key]
            stored.status = stored.statuses[min(self.reads[key], len(stored.statuses) - 1)]
            self.reads[key] += 1
            return copy.deepcopy(stored)

    def set_model_version_tags(self, name: str, version: str | int, tags: Mapping[str, object]) -> None:
        """
        Merge ``tags`` (values turned into strings) into the version's tags.

        :raises ConnectionError: While :attr:`fail_tag_writes` is set.
        """
        if self.fail_tag_writes:
            raise ConnectionError("mlflow down")
        with self._lock:
            self._versions[(name, str(version))].tags.update({k: str(v) for k, v in tags.items()})

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: object) -> None:
        """``MlflowClient``'s one-tag write."""
        self.set_model_version_tags(name, version, {key: value})

    def search_model_versions(
        self, filter_string: str = "", max_results: int = 1000, page_token: str | None = None
    ) -> Page:
        """
        One page of copies of the versions matching ``filter_string``, in registration order, as MLflow pages them:
        the page's ``token`` names the next one (None on the last).

        :raises ValueError: The filter has a form the fake does not understand.
        """
        clauses = parse_filter(filter_string)
        start = int(page_token or 0)
        with self._lock:
            found = [v for v in self._versions.values() if all(c.matches(v) for c in clauses)]
            page = Page(copy.deepcopy(v) for v in found[start : start + max_results])
        page.token = str(start + max_results) if start + max_results < len(found) else None
        return page

    def tags_of(self, name: str, version: str | int) -> dict[str, str]:
        """A copy of the version's tags."""
        with self._lock:
            return dict(self._versions[(name, str(version))].tags)

    def versions(self) -> list[FakeModelVersion]:
        """Copies of every version, in registration order."""
        with self._lock:
            return [copy.deepcopy(v) for v in self._versions.values()]

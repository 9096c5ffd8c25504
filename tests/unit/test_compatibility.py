"""
One source of truth for the compatibility matrix, :mod:`hokusai_testkit.matrix`: pyproject's ranges and extras, its
classifiers and docs/compatibility.md's table say what the cells test (``make test-matrix`` runs them).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from hokusai_testkit.matrix import AIRFLOW_RANGE, CELLS, MLFLOW_SKINNY_RANGE, PROVIDER_FLOORS, Cell

REPO = Path(__file__).resolve().parents[2]
PROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
DOC = (REPO / "docs" / "compatibility.md").read_text()


def requirements(lines: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def lower_bound(specifier: SpecifierSet) -> str:
    (floor,) = [s.version for s in specifier if s.operator == ">="]
    return floor


def test_the_requires_dist_ranges_are_the_matrix_ranges() -> None:
    core = requirements(PROJECT["dependencies"])
    assert core["apache-airflow"].specifier == SpecifierSet(AIRFLOW_RANGE)
    assert core["mlflow-skinny"].specifier == SpecifierSet(MLFLOW_SKINNY_RANGE)


def test_the_extras_floors_are_the_tested_provider_floors() -> None:
    for extra in ("redis", "amazon", "all"):
        for name, requirement in requirements(PROJECT["optional-dependencies"][extra]).items():
            assert requirement.specifier == SpecifierSet(f">={PROVIDER_FLOORS[name]}"), (extra, name)


def test_every_floor_is_a_cell_and_every_cell_is_in_the_range() -> None:
    airflow, skinny = SpecifierSet(AIRFLOW_RANGE), SpecifierSet(MLFLOW_SKINNY_RANGE)
    assert all(airflow.contains(c.airflow) and skinny.contains(c.mlflow_skinny) for c in CELLS)
    floors = [c for c in CELLS if c.airflow == lower_bound(airflow) and c.mlflow_skinny == lower_bound(skinny)]
    assert floors, "no cell tests the oldest Airflow with the oldest mlflow-skinny"
    assert any(dict(c.providers) == PROVIDER_FLOORS and set(c.backends) == {"redis", "amazon"} for c in floors)


def test_the_classifiers_claim_only_what_the_matrix_runs() -> None:
    pythons = [c for c in PROJECT["classifiers"] if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert pythons == ["Programming Language :: Python :: 3.11"]  # the one interpreter the cells run on
    assert {"Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider"} <= set(PROJECT["classifiers"])


def doc_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.splitlines():
        if match := re.match(r"\| `([\w.-]+)` \|(.*)\|$", line):
            rows[match[1]] = [cell.strip() for cell in match[2].split("|")]
    return rows


def expected_row(cell: Cell) -> list[str]:
    providers = ", ".join(f"{n.removeprefix('apache-airflow-providers-')} {v}" for n, v in cell.providers.items())
    return [
        cell.airflow,
        cell.mlflow_skinny,
        ", ".join(f"`{e}`" for e in cell.extras),
        providers or "newest",
        ", ".join(f"`{pin}`" for pin in cell.pins) or "none",
    ]


def test_the_docs_table_lists_exactly_the_cells() -> None:
    rows = doc_rows()
    assert list(rows) == [c.name for c in CELLS]
    for cell in CELLS:
        assert rows[cell.name][:5] == expected_row(cell), cell.name


def test_the_docs_state_the_ranges_and_the_python() -> None:
    assert f"`apache-airflow{AIRFLOW_RANGE}`" in DOC
    assert f"`mlflow-skinny{MLFLOW_SKINNY_RANGE}`" in DOC
    assert "Python 3.11 only" in DOC
    for cell in CELLS:
        for pin, reason in cell.pins.items():
            assert f"`{pin}`" in DOC and reason in DOC, pin

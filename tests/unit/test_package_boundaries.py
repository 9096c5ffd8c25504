"""
Package boundaries, read from the source with ``ast`` (no wheel build: hatchling is not in the offline lock).

* The wheel packages ``airflow_provider_hokusai`` only, and nothing in it imports the repository's other top-level
  packages (tests, bench, scripts, the test-support kit, the example DAGs' helpers), not even lazily in a function.
* The benchmarks and scripts use the test-support kit, never the test suite.
* Shared test support is defined once, in ``hokusai_testkit``.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROVIDER = "airflow_provider_hokusai"
# Top-level names that exist only in the repository, never in an installed provider.
REPOSITORY_ONLY = {"tests", "bench", "scripts", "hokusai_testkit", "hokusai_examples", "dags"}


def sources(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every absolute import in ``path``, and of ``import_module("...")`` literals."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def offending_imports(folder: str, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in sources(folder)
        for line, name in imported_modules(path)
        if name.split(".")[0] in forbidden
    ]


def test_the_wheel_packages_only_the_provider() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [PROVIDER]
    assert not (REPO / PROVIDER / "consumer.py").exists(), "the example consumer's helpers live in dags/"


def test_nothing_in_the_wheel_imports_repository_only_packages() -> None:
    assert sources(PROVIDER), "no provider sources found"
    assert offending_imports(PROVIDER, REPOSITORY_ONLY) == []


@pytest.mark.parametrize("folder", ["bench", "scripts", "hokusai_testkit", "dags"])
def test_bench_scripts_testkit_and_dags_do_not_import_the_test_suite(folder: str) -> None:
    assert offending_imports(folder, {"tests"}) == []


def test_the_testkit_needs_neither_pytest_nor_the_benchmarks() -> None:
    assert offending_imports("hokusai_testkit", {"pytest", "bench", "scripts", "_pytest"}) == []


def test_shared_test_support_is_defined_once() -> None:
    definitions = {"free_port", "wait_for_port", "stop_process"}
    found = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.name}"
        for folder in ("tests", "bench", "scripts")
        for path in sources(folder)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.FunctionDef) and node.name in definitions
    ]
    assert found == [], "defined outside hokusai_testkit"

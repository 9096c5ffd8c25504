"""
The package's rooms, read from the source with ``ast``: few modules at the root, a stated job per subpackage, no
import cycle (lazy imports inside functions count: they run too), modules small, few exception classes, and every
import path that the docs, the README, the example DAGs, ``pyproject.toml`` and ``get_provider_info`` name resolves.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_hokusai.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "airflow_provider_hokusai"
NAME = PACKAGE.name
MAX_ROOT_MODULES = 8
MAX_MODULE_LINES = 350
MAX_EXCEPTION_CLASSES = 20


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under ``if TYPE_CHECKING:``: they never run."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def runtime_imports(module: str) -> Iterator[str]:
    """The package's modules that ``module`` imports when it runs, at import time or later in a function."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from package import module" imports the module; "from module import name" the module itself.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            found = name
            while found and found not in MODULES:
                found = found.rpartition(".")[0]
            if found.startswith(NAME) and found != module:
                yield found


def import_cycles() -> list[list[str]]:
    graph = {module: sorted(set(runtime_imports(module))) for module in MODULES}
    # A package's __init__ is not a real edge for its children: importing a.b runs a's __init__, which here never
    # imports its children, so the edge child → parent package would only add noise; the parent's own imports stay.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module)
    return cycles


def test_at_most_eight_modules_at_the_root() -> None:
    root = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def test_every_subpackage_states_its_one_job_in_its_docstring() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(REPO)} has no docstring"
        assert len(doc.splitlines()) == 1 and len(doc) <= 120, f"{init.relative_to(REPO)}: one line, please"


def test_no_import_cycle_in_the_package() -> None:
    assert len(MODULES) > 40, "the package was not found"
    assert any(runtime_imports(f"{NAME}.hooks.queue")), "the import scan found nothing"
    assert import_cycles() == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    # The check itself can fail: a made-up graph with a loop is reported.
    global MODULES  # noqa: PLW0603
    saved = MODULES
    (tmp_path / NAME).mkdir()
    a, b = tmp_path / NAME / "a.py", tmp_path / NAME / "b.py"
    a.write_text(f"def f():\n    from {NAME}.b import g\n")
    b.write_text(f"from {NAME} import a\n")
    try:
        MODULES = {f"{NAME}.a": a, f"{NAME}.b": b}
        assert import_cycles() == [[f"{NAME}.a", f"{NAME}.b", f"{NAME}.a"]]
    finally:
        MODULES = saved


def test_modules_stay_small() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_exception_classes_are_few() -> None:
    import airflow_provider_hokusai.exceptions as module

    classes = [
        name
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__
    ]
    assert 10 <= len(classes) <= MAX_EXCEPTION_CLASSES, classes


def test_every_public_module_declares_its_public_names() -> None:
    missing = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        public = [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and not node.name.startswith("_")
        ]
        declared = any(
            isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
            for node in tree.body
        )
        if public and not declared and not path.name.startswith("__main__"):
            missing.append(name)
    assert missing == []
    for name in MODULES:
        module = importlib.import_module(name)
        assert all(hasattr(module, item) for item in getattr(module, "__all__", [])), name


# Every dotted path that starts with the package name, in the texts a user or Airflow reads.
_DOTTED = re.compile(rf"\b{NAME}(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_SLASHED = re.compile(rf"\b{NAME}(?:/[A-Za-z_][A-Za-z0-9_]*)+(?:\.py|/)")
# The short form the docs use for the package's own modules: `hooks/mlflow_stores.MLflowStoreHook`, `queue/retry.py`.
_ROOMS = sorted({path.parent.name for path in PACKAGE.glob("*/__init__.py")})
_SHORT = re.compile(rf"`((?:{'|'.join(_ROOMS)})(?:/[a-z_]+)+)(?:\.py)?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)`")


def _paths_in(text: str) -> Iterator[str]:
    yield from (match.group(0) for match in _DOTTED.finditer(text))
    yield from (match.group(0) for match in _SLASHED.finditer(text))
    for match in _SHORT.finditer(text):
        short = match.group(1)
        if not (REPO / f"{short}.py").exists():  # the repository's own example DAGs folder is dags/ too
            yield f"{NAME}.{short.replace('/', '.')}{match.group(2)}"


def named_paths() -> Iterator[tuple[str, str]]:
    texts = [REPO / "README.md", REPO / "pyproject.toml", *sorted((REPO / "docs").glob("*.md"))]
    texts += sorted((REPO / "dags").rglob("*.py"))
    for text in texts:
        yield from ((str(text.relative_to(REPO)), path) for path in _paths_in(text.read_text()))

    def walk(value: object) -> Iterator[str]:
        if isinstance(value, str):
            yield from (m.group(0) for m in _DOTTED.finditer(value))
        elif isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    yield from (("get_provider_info", path) for path in walk(get_provider_info()))


def resolves(path: str) -> bool:
    if "/" in path:
        return (REPO / path).exists()
    module, attrs = path, []
    while module:
        try:
            found: object = importlib.import_module(module)
        except ModuleNotFoundError:
            module, _, attr = module.rpartition(".")
            attrs.insert(0, attr)
            continue
        for attr in attrs:
            if not hasattr(found, attr):
                return False
            found = getattr(found, attr)
        return True
    return False


def test_the_path_walk_reads_every_kind_of_text() -> None:
    sources = {source for source, _ in named_paths()}
    assert "get_provider_info" in sources and "README.md" in sources
    assert any(source.startswith("docs/") for source in sources)
    assert not resolves(f"{NAME}.no_such_module.Thing") and not resolves(f"{NAME}/no_such.py")
    short = list(_paths_in("`hooks/mlflow_stores.MLflowStoreHook`, `queue/retry.py`, `hooks/gone.Client`"))
    assert short == [f"{NAME}.hooks.mlflow_stores.MLflowStoreHook", f"{NAME}.queue.retry", f"{NAME}.hooks.gone.Client"]
    assert not resolves(short[2])


@pytest.mark.parametrize(("source", "path"), sorted(set(named_paths())))
def test_every_named_import_path_resolves(source: str, path: str) -> None:
    assert resolves(path), f"{source} names {path}, which does not exist"


def room_of(module: str) -> str | None:
    """``hooks`` for ``<package>.hooks.redis``, ``signing`` for the root module ``<package>.signing``; None for the
    package's own ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def documented_rooms(text: str) -> list[tuple[set[str], set[str]]]:
    """The rooms table of docs/architecture.md, bottom up: each row's rooms and the rooms it says they import."""
    section = text.split("## The rooms", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table = []
    for row in rows:
        rooms_cell, _, imports_cell = (cell.strip() for cell in row.strip("|").split(" | "))
        rooms = {name.rstrip("/") for name in re.findall(r"`([^`]+)`", rooms_cell)}
        table.append((rooms, set(re.findall(r"`([^`]+)`", imports_cell))))
    return table


def room_imports() -> dict[str, set[str]]:
    """Which rooms each room's modules import when they run."""
    found: dict[str, set[str]] = {}
    for module in MODULES:
        room = room_of(module)
        if room is None:
            continue
        targets = {room_of(target) for target in runtime_imports(module)} - {room, None}
        found.setdefault(room, set()).update(t for t in targets if t is not None)
    return found


def layering_errors(table: list[tuple[set[str], set[str]]], actual: dict[str, set[str]]) -> list[str]:
    errors = []
    listed = set().union(*(rooms for rooms, _ in table))
    errors += [f"room {room} is not in the table" for room in sorted(set(actual) - listed)]
    below: set[str] = set()
    for rooms, documented in table:
        imported = set().union(*(actual.get(room, set()) for room in rooms)) - rooms
        if imported != documented:
            errors.append(f"{sorted(rooms)} import {sorted(imported)}, the table says {sorted(documented)}")
        errors += [f"{sorted(rooms)} import {room}, which is not above them" for room in sorted(documented - below)]
        below |= rooms
    return errors


def test_the_rooms_import_only_the_rooms_above_them_as_the_architecture_page_says() -> None:
    table = documented_rooms((REPO / "docs" / "architecture.md").read_text())
    assert len(table) >= 10, "the rooms table was not found"
    assert layering_errors(table, room_imports()) == []


def test_the_layering_check_finds_an_upward_import_and_a_stale_row() -> None:
    table = [({"utils", "exceptions"}, set()), ({"gate"}, {"utils"}), ({"hooks"}, {"gate"})]
    assert layering_errors(table, {"utils": {"exceptions"}, "gate": {"utils"}, "hooks": {"gate"}}) == []
    upward = layering_errors(table, {"gate": {"utils", "hooks"}, "hooks": {"gate"}})
    assert upward == ["['gate'] import ['hooks', 'utils'], the table says ['utils']"]
    inverted = [({"utils", "exceptions"}, set()), ({"gate"}, {"hooks"}), ({"hooks"}, {"gate"})]
    assert "['gate'] import hooks, which is not above them" in layering_errors(
        inverted, {"gate": {"hooks"}, "hooks": {"gate"}}
    )
    assert layering_errors(table, {"cli": {"hooks"}}) == [
        "room cli is not in the table",
        "['gate'] import [], the table says ['utils']",
        "['hooks'] import [], the table says ['gate']",
    ]

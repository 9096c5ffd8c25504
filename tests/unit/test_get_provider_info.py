"""
``get_provider_info`` against the package itself: the package is walked (``pkgutil``) and scanned (``ast``), so a
new hook, operator, sensor, trigger, notifier, extra link, plugin or ``[hokusai]`` option that is not declared
fails here rather than being silently invisible to Airflow.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from functools import cache
from importlib.metadata import distribution, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import airflow_provider_hokusai
from airflow_provider_hokusai.get_provider_info import get_provider_info

PACKAGE = airflow_provider_hokusai.__name__
PACKAGE_DIR = Path(airflow_provider_hokusai.__file__).parent
DISTRIBUTION = "airflow-provider-hokusai"
CONFIG_SECTION = "hokusai"
# ``airflow.configuration.conf`` / ``airflow.sdk.configuration.conf`` readers whose second argument is the option.
CONF_READERS = {"get", "getboolean", "getint", "getfloat", "getlist", "getjson", "getimport", "has_option"}
# Base classes of the declared plugin points, by name: Airflow re-exports some of them from more than one module
# (``AirflowPlugin`` exists in ``airflow.plugins_manager`` and ``airflow.sdk._shared``), so identity would miss one.
NOTIFIER_BASE, LINK_BASE, PLUGIN_BASE = "BaseNotifier", "BaseOperatorLink", "AirflowPlugin"


@cache
def package_modules() -> dict[str, ModuleType]:
    """Every module of the package, imported (``__main__`` modules are skipped: importing one runs it)."""
    modules = {PACKAGE: airflow_provider_hokusai}
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix=f"{PACKAGE}."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            modules[info.name] = importlib.import_module(info.name)
    return modules


def public_modules_under(subpackage: str) -> set[str]:
    """Non-private leaf modules of ``airflow_provider_hokusai.<subpackage>`` (``_x`` modules are internal)."""
    prefix = f"{PACKAGE}.{subpackage}."
    return {
        name
        for name, module in package_modules().items()
        if name.startswith(prefix)
        and not hasattr(module, "__path__")
        and not any(part.startswith("_") for part in name.removeprefix(prefix).split("."))
    }


def declared_modules(key: str) -> set[str]:
    return {m for entry in get_provider_info().get(key, []) for m in entry["python-modules"]}


def defined_subclasses(base_name: str) -> set[str]:
    """Dotted paths of the public, concrete classes defined in the package that derive from ``base_name``."""
    found = set()
    for name, module in package_modules().items():
        for cls_name, cls in vars(module).items():
            if (
                inspect.isclass(cls)
                and cls.__module__ == name
                and not cls_name.startswith("_")
                and not inspect.isabstract(cls)
                and any(base.__name__ == base_name for base in cls.__mro__[1:])
            ):
                found.add(f"{name}.{cls_name}")
    return found


def import_path(path: str) -> Any:
    """The module or module attribute named by a dotted ``path``."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, attr = path.rpartition(".")
        return getattr(importlib.import_module(module), attr)


# Package name.


def test_entry_point_is_registered_and_package_name_matches_distribution() -> None:
    (ep,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith(PACKAGE)]
    info = ep.load()()
    assert info == get_provider_info()
    assert info["package-name"] == distribution(DISTRIBUTION).metadata["Name"] == DISTRIBUTION


def test_info_passes_airflows_provider_schema() -> None:
    import json

    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


# Modules and classes: declared exactly what the package has.


@pytest.mark.parametrize(
    ("key", "subpackage"),
    [("hooks", "hooks"), ("operators", "operators"), ("sensors", "sensors"), ("triggers", "triggers")],
)
def test_every_module_of_the_kind_is_declared(key: str, subpackage: str) -> None:
    actual = public_modules_under(subpackage)
    assert actual, f"the walk found no module under {subpackage}/"
    assert declared_modules(key) == actual, f"{key}: declared vs modules under {subpackage}/"


@pytest.mark.parametrize(
    ("key", "base"),
    [("notifications", NOTIFIER_BASE), ("extra-links", LINK_BASE), ("plugins", PLUGIN_BASE)],
)
def test_every_notifier_link_and_plugin_is_declared(key: str, base: str) -> None:
    declared = get_provider_info().get(key, [])
    paths = {p["plugin-class"] for p in declared} if key == "plugins" else set(declared)
    actual = defined_subclasses(base)
    assert actual, f"the walk found no {base} subclass"
    assert paths == actual, f"{key}: declared vs {base} subclasses defined in the package"


def test_every_declared_class_imports() -> None:
    info = get_provider_info()
    paths = [c["hook-class-name"] for c in info["connection-types"]]
    paths += info["notifications"] + info["extra-links"] + [p["plugin-class"] for p in info["plugins"]]
    for path in paths:
        assert inspect.isclass(import_path(path)), path
    assert {p["name"] for p in info["plugins"]} == {import_path(p["plugin-class"]).name for p in info["plugins"]}


def test_connection_types_name_hooks_of_the_declared_modules() -> None:
    for connection in get_provider_info()["connection-types"]:
        module = connection["hook-class-name"].rpartition(".")[0]
        assert module in declared_modules("hooks"), connection["hook-class-name"]


# Configuration: every [hokusai] option the package reads is declared, and nothing else is.


def _string_value(node: ast.expr | None, module: ModuleType) -> str | None:
    """A string literal, or a module-level name (``X``) or attribute (``mod.X``) that holds a string."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.Name):
        value = getattr(module, node.id, None)
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        value = getattr(getattr(module, node.value.id, None), node.attr, None)
    else:
        return None
    return value if isinstance(value, str) else None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


class ConfigReadScanner(ast.NodeVisitor):
    """
    Collects ``<conf>.<reader>(section, option, ...)`` calls whose section is ``hokusai``, with the options they
    read: a literal or module constant, or the loop variable of an enclosing ``for`` / comprehension over a tuple
    or list of literals or over a pydantic model's ``model_fields`` (``cls.model_fields`` inside the model).
    """

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.classes: list[str] = []
        self.loops: dict[str, list[str] | None] = {}
        self.reads: list[tuple[str, list[str] | None]] = []

    def _iterated(self, node: ast.expr) -> list[str] | None:
        if isinstance(node, ast.Tuple | ast.List):
            values = [_string_value(e, self.module) for e in node.elts]
            return None if None in values else [v for v in values if v is not None]
        if isinstance(node, ast.Attribute) and node.attr == "model_fields" and isinstance(node.value, ast.Name):
            owner = self.classes[-1] if node.value.id in {"cls", "self"} and self.classes else node.value.id
            fields = getattr(getattr(self.module, owner, None), "model_fields", None)
            return list(fields) if isinstance(fields, dict) else None
        return None

    def _bind(self, target: ast.expr, iterated: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.loops[target.id] = self._iterated(iterated)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def visit_For(self, node: ast.For) -> None:
        self._bind(node.target, node.iter)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._bind(node.target, node.iter)
        self.generic_visit(node)

    def _visit_comprehension_node(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        # Generators first, so that the element sees the loop variables they bind.
        for generator in node.generators:
            self.visit(generator)
        for field in ("elt", "key", "value"):
            if (child := getattr(node, field, None)) is not None:
                self.visit(child)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comprehension_node

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in CONF_READERS
            and _string_value(_argument(node, 0, "section"), self.module) == CONFIG_SECTION
        ):
            option = _argument(node, 1, "key")
            value = _string_value(option, self.module)
            if value is not None:
                options: list[str] | None = [value]
            else:
                options = self.loops.get(option.id) if isinstance(option, ast.Name) else None
            self.reads.append((f"{self.module.__name__}:{node.lineno}", options))
        self.generic_visit(node)


def config_reads() -> Iterator[tuple[str, list[str] | None]]:
    """
    ``(where, options)`` for every read of a ``[hokusai]`` option in the package; ``options`` is None when the
    scan cannot tell which options are read.
    """
    for module in package_modules().values():
        path = Path(module.__file__ or "")
        scanner = ConfigReadScanner(module)
        scanner.visit(ast.parse(path.read_text(), filename=str(path)))
        yield from scanner.reads


def test_every_hokusai_option_read_is_declared() -> None:
    reads = list(config_reads())
    assert reads, "the scan found no [hokusai] read; if the package reads its options another way, extend the scan"
    unknown = [where for where, options in reads if options is None]
    assert not unknown, f"[hokusai] reads whose option the scan cannot tell (extend ConfigReadScanner): {unknown}"
    declared = set(get_provider_info()["config"][CONFIG_SECTION]["options"])
    read = {option for _, options in reads for option in options or []}
    assert read - declared == set(), "read but not declared in get_provider_info()['config']"
    assert declared - read == set(), "declared in get_provider_info()['config'] but never read"


def test_config_sections_are_only_the_providers_own() -> None:
    config = get_provider_info()["config"]
    assert set(config) == {CONFIG_SECTION}
    for name, option in config[CONFIG_SECTION]["options"].items():
        assert {"description", "version_added", "type", "example", "default"} <= set(option), name

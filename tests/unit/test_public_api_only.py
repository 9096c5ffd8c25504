"""
The provider uses MLflow's and Airflow's public APIs only, read from the source with ``ast``.

A finding is any of, anywhere in ``airflow_provider_hokusai`` (``TYPE_CHECKING`` imports and lazy imports included):

* an import of a ``_``-prefixed module of ``mlflow`` or ``airflow`` (``mlflow.tracking._tracking_service``,
  ``airflow.sdk._shared``), or of a ``_``-prefixed name from one of their modules, ``import_module`` literals too;
* an access to a ``_``-prefixed attribute (``client._registry_client_lazy``, ``mlflow.tracking._model_registry``,
  ``super()._inherited``) that the package does not define itself, and ``getattr``/``setattr``/``hasattr``/``delattr``
  with such a name as a literal.

Names the package defines (its own ``_helpers``, ``self._state``) are its business; the named tuple API
(``_replace``, ``_asdict``...) is public despite its underscore.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_hokusai"
THIRD_PARTY_ROOTS = {"mlflow", "airflow"}
#: Underscore names that are public API: the named tuple methods and attributes.
PUBLIC_UNDERSCORE = {"_replace", "_asdict", "_fields", "_field_defaults", "_make"}
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] in THIRD_PARTY_ROOTS and any(_private(part) for part in parts)


def defined_names(tree: ast.AST) -> Iterator[str]:
    """The names a module defines: functions, classes, assigned names and attributes (``self._x = ...``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                yield node.attr
        elif isinstance(node, ast.arg):
            yield node.arg


def _import_findings(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (f"import {a.name}" for a in node.names if _private_module(a.name))
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if _private_module(node.module):
            yield f"from {node.module} import ..."
        elif node.module.split(".")[0] in THIRD_PARTY_ROOTS:
            yield from (f"from {node.module} import {a.name}" for a in node.names if _private(a.name))


def _call_findings(node: ast.Call, own: set[str]) -> Iterator[str]:
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if name in ATTRIBUTE_FUNCTIONS and len(node.args) > 1:
        literal = node.args[1]
    elif name == "import_module" and node.args:
        literal = node.args[0]
    else:
        return
    if not (isinstance(literal, ast.Constant) and isinstance(literal.value, str)):
        return
    if name in ATTRIBUTE_FUNCTIONS and _private(literal.value) and literal.value not in own:
        yield f"{name}(..., {literal.value!r})"
    elif name == "import_module" and _private_module(literal.value):
        yield f"import_module({literal.value!r})"


def private_uses(source: str, own: Iterable[str] = ()) -> list[str]:
    """
    The findings in ``source``, as ``"<line>: <what>"``.

    :param own: Names the package defines itself; ``_``-prefixed attributes with these names are allowed.
    """
    tree = ast.parse(source)
    allowed = set(own) | set(defined_names(tree)) | PUBLIC_UNDERSCORE
    found: list[str] = []
    for node in ast.walk(tree):
        what: list[str] = list(_import_findings(node))
        if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in allowed:
            what.append(ast.unparse(node))
        if isinstance(node, ast.Call):
            what.extend(_call_findings(node, allowed))
        found.extend(f"{getattr(node, 'lineno', '?')}: {w}" for w in what)
    return found


def package_names() -> set[str]:
    return {name for path in PACKAGE.rglob("*.py") for name in defined_names(ast.parse(path.read_text()))}


def test_the_package_uses_public_mlflow_and_airflow_apis_only() -> None:
    own = package_names()
    findings = [
        f"{path.relative_to(PACKAGE.parent)}:{finding}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for finding in private_uses(path.read_text(), own)
    ]
    assert findings == []


@pytest.mark.parametrize(
    "snippet",
    [
        "from mlflow.tracking._tracking_service.client import TrackingServiceClient",
        "import mlflow.tracking._model_registry.client",
        "from airflow.sdk._shared.secrets_masker import redact",
        "from airflow.sdk._shared import secrets_masker",
        "from mlflow.tracking.client import _model_not_found",
        "if TYPE_CHECKING:\n    from airflow.sdk._shared.secrets_masker import Redactable",
        "def f():\n    from mlflow.tracking._tracking_service import utils",
        "import importlib\nimportlib.import_module('airflow.sdk._shared.secrets_masker')",
        "client._registry_client_lazy = registry_client",
        "client._tracking_client = tracking_client",
        "setattr(client, '_registry_client_lazy', registry_client)",
        "getattr(client, '_tracking_client')",
        "import mlflow\nprevious = mlflow.tracking._tracking_service.utils",
        "class Hook(BaseHook):\n    def f(self):\n        return super()._airflow_internal()",
        "class Hook(BaseHook):\n    def f(self):\n        return self._log_config_logger_name",
    ],
)
def test_the_scan_finds_private_uses(snippet: str) -> None:
    assert private_uses(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "from airflow.sdk.log import mask_secret",
        "from mlflow.store.tracking.rest_store import RestStore",
        "from airflow_provider_hokusai.plugins._health_app import app",
        "parts = urlsplit(uri)\nparts._replace(netloc='h')",
        "class A:\n    def __init__(self):\n        self._state = 1\n\n    def f(self, other):\n"
        "        return other._state",
        "def _helper(): ...\n_helper()",
        "getattr(exc, 'error_code', None)",
    ],
)
def test_the_scan_leaves_public_and_own_names_alone(snippet: str) -> None:
    assert private_uses(snippet) == []


def test_the_scan_sees_the_package() -> None:
    assert len(list(PACKAGE.rglob("*.py"))) > 50
    assert {"_named_values", "_store"} <= package_names()

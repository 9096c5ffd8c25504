from __future__ import annotations

import importlib
from importlib.metadata import distribution, entry_points

from airflow_provider_hokusai.get_provider_info import get_provider_info


def test_entry_point_is_registered_and_package_name_matches_distribution() -> None:
    (ep,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_hokusai")
    ]
    info = ep.load()()
    assert info["package-name"] == distribution("airflow-provider-hokusai").metadata["Name"]


def test_every_declared_class_imports() -> None:
    info = get_provider_info()
    paths: list[str] = []
    paths += [h for entry in info["hooks"] for h in entry.get("python-modules", [])]
    paths += [c["hook-class-name"] for c in info["connection-types"]]
    paths += [m for entry in info["operators"] + info["sensors"] for m in entry["python-modules"]]
    paths += [m for entry in info["triggers"] for m in entry["python-modules"]]
    paths += info["extra-links"]
    paths += [p["plugin-class"] for p in info["plugins"]]
    for path in paths:
        try:
            importlib.import_module(path)
        except ModuleNotFoundError:
            module, _, attr = path.rpartition(".")
            assert hasattr(importlib.import_module(module), attr), path

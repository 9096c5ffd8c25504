"""
What ``pyproject.toml`` publishes, read from the files (nothing is built here; ``make dist`` builds and checks the
wheel and sdist): one version source, extras for the queue backends and no published ``dev`` extra, the LICENSE
shipped, a CHANGELOG section for the version, and a development lock that covers every declared dependency.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import airflow_provider_hokusai
from airflow_provider_hokusai.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[2]
PYPROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT: dict[str, Any] = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_the_version_is_declared_once_in_the_package() -> None:
    assert "version" not in PROJECT
    assert PROJECT["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["hatch"]["version"] == {"path": "airflow_provider_hokusai/__init__.py"}
    version = airflow_provider_hokusai.__version__
    assert str(Version(version)) == version, "not a normalized PEP 440 version"
    assert get_provider_info()["versions"][0] == version


def test_the_changelog_has_a_section_for_the_version() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text()
    version = re.escape(airflow_provider_hokusai.__version__)
    assert re.search(rf"^## \[{version}\](?: - (?:\d{{4}}-\d{{2}}-\d{{2}}|Unreleased))?$", changelog, re.MULTILINE)
    assert re.search(rf"^\[{version}\]: https://", changelog, re.MULTILINE), "no link reference for the version"


def test_the_license_is_shipped() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert "LICENSE" in PROJECT["license-files"]
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "License :: OSI Approved :: Apache Software License" not in PROJECT["classifiers"], (
        "PEP 639: the license expression replaces the license classifier"
    )


def test_no_dev_extra_is_published() -> None:
    assert "dev" not in EXTRAS
    assert "pytest" in names(PYPROJECT["dependency-groups"]["dev"])


def test_the_queue_backends_are_extras() -> None:
    assert names(EXTRAS["redis"]) == {"apache-airflow-providers-redis"}
    assert names(EXTRAS["amazon"]) == {"apache-airflow-providers-amazon"}
    assert sorted(EXTRAS["all"]) == sorted(EXTRAS["redis"] + EXTRAS["amazon"])
    core = names(PROJECT["dependencies"])
    assert "apache-airflow" in core
    assert not core & names(EXTRAS["all"]), "a backend is both a dependency and an extra"
    assert "apache-airflow-providers-common-messaging" not in core, "only the example consumer DAG uses it"


def test_python_classifiers_name_only_the_tested_version() -> None:
    versions = [c for c in PROJECT["classifiers"] if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert versions == ["Programming Language :: Python :: 3.11"]
    assert "Framework :: Apache Airflow :: Provider" in PROJECT["classifiers"]


def test_airflow_gets_a_documentation_url() -> None:
    # Airflow's provider discovery sets provider_info["documentation-url"] from the distribution's
    # `Project-URL: Documentation` (shown by `airflow providers get -f` and the providers REST API).
    urls = PROJECT["urls"]
    assert {"Documentation", "Changelog", "Source", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_the_development_lock_covers_every_declared_dependency() -> None:
    pinned = {
        canonicalize_name(Requirement(line.split("#", 1)[0].strip()).name)
        for line in (REPO / "requirements" / "requirements.in").read_text().splitlines()
        if line.split("#", 1)[0].strip()
    }
    declared = names(PROJECT["dependencies"]) | names(PYPROJECT["dependency-groups"]["dev"])
    for requirements in EXTRAS.values():
        declared |= names(requirements)
    assert declared - pinned == set()

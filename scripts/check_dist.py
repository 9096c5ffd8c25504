"""Check the built wheel and sdist in ``dist/`` (``make dist``, after ``uv build`` and ``twine check``).

* The wheel holds the provider package and nothing else of the repository: no tests, test-support kit, benchmarks,
  scripts, example DAGs, no ``.pyc``.
* It holds every file of the package that is not Python — the Hokusai page's static files (read with
  ``importlib.resources``), the committed JSON Schema (read next to ``messages/schema.py``), ``py.typed`` — and
  every module: the files under ``airflow_provider_hokusai/`` that git does not ignore are what the wheel ships.
* Its metadata: the version is ``__version__``, the LICENSE is in ``.dist-info/licenses``, there is a
  ``Project-URL: Documentation`` (Airflow shows it as the provider's documentation URL), no ``dev`` extra.
* The sdist builds that wheel: it holds the same package files, the LICENSE, README, CHANGELOG and pyproject.

Prints one line per distribution and exits 1 with the list of problems when there are any.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_hokusai"
DIST = REPO / "dist"
# Top-level names of the repository that must never reach a user's site-packages.
REPOSITORY_ONLY = ("tests/", "hokusai_testkit/", "bench/", "scripts/", "dags/", "hokusai_examples/", "docker/")
SDIST_TOP_LEVEL = {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "PKG-INFO"}


def package_files() -> set[str]:
    """Every file of the package that git does not ignore (tracked or new), relative to the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", PACKAGE],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line for line in listed.splitlines() if line}


def version() -> str:
    text = (REPO / PACKAGE / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"no __version__ in {PACKAGE}/__init__.py")
    return match[1]


def check_wheel(wheel: Path, expected: set[str], expected_version: str) -> list[str]:
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        dist_info = f"{PACKAGE}-{expected_version}.dist-info/"
        metadata = Parser().parsestr(archive.read(dist_info + "METADATA").decode())
        entry_points = archive.read(dist_info + "entry_points.txt").decode()
    for name in names:
        if name.startswith(REPOSITORY_ONLY):
            problems.append(f"{wheel.name}: {name} is not the provider's")
        elif name.endswith((".pyc", ".pyo")):
            problems.append(f"{wheel.name}: {name} is compiled bytecode")
        elif not name.startswith((PACKAGE + "/", dist_info)):
            problems.append(f"{wheel.name}: {name} is outside the package")
        elif name.startswith(PACKAGE + "/") and name not in expected:
            problems.append(f"{wheel.name}: {name} is not in the source tree (or is git-ignored)")
    shipped = {n for n in names if n.startswith(PACKAGE + "/")}
    problems += [f"{wheel.name}: {n} is missing" for n in sorted(expected - shipped)]
    if dist_info + "licenses/LICENSE" not in names:
        problems.append(f"{wheel.name}: no {dist_info}licenses/LICENSE")
    if metadata["Version"] != expected_version:
        problems.append(f"{wheel.name}: version {metadata['Version']} is not __version__ {expected_version}")
    if metadata["License-Expression"] != "Apache-2.0":
        problems.append(f"{wheel.name}: License-Expression is {metadata['License-Expression']!r}")
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    problems += [f"{wheel.name}: no Project-URL {k}" for k in ("Documentation", "Changelog", "Source") if k not in urls]
    extras = set(metadata.get_all("Provides-Extra") or [])
    if "dev" in extras or not {"redis", "amazon", "all"} <= extras:
        problems.append(f"{wheel.name}: extras are {sorted(extras)}")
    problems += missing_entry_points(wheel.name, entry_points)
    print(f"{wheel.name}: {wheel.stat().st_size} bytes, {len(names)} files ({len(shipped)} in {PACKAGE}/)")
    return problems


def missing_entry_points(wheel_name: str, entry_points: str) -> list[str]:
    """Both entry points: the provider's metadata, and the plugin under Airflow's defaults (lazy provider discovery)."""
    problems = []
    for group, entry in (("apache_airflow_provider", "provider_info"), ("airflow.plugins", "hokusai")):
        if not re.search(rf"^\[{re.escape(group)}\]\n(?:.+\n)*?{entry} = ", entry_points, re.MULTILINE):
            problems.append(f"{wheel_name}: no entry point {entry} in group {group}")
    return problems


def check_sdist(sdist: Path, expected: set[str], expected_version: str) -> list[str]:
    root = f"{PACKAGE}-{expected_version}/"
    with tarfile.open(sdist) as archive:
        names = {m.name.removeprefix(root) for m in archive.getmembers() if m.isfile()}
    problems = [f"{sdist.name}: {n} is missing" for n in sorted((expected | SDIST_TOP_LEVEL) - names)]
    problems += [f"{sdist.name}: {n} is not the provider's" for n in sorted(names) if n.startswith(REPOSITORY_ONLY)]
    problems += [f"{sdist.name}: {n} is compiled bytecode" for n in sorted(names) if n.endswith((".pyc", ".pyo"))]
    print(f"{sdist.name}: {sdist.stat().st_size} bytes, {len(names)} files")
    return problems


def main() -> int:
    expected_version = version()
    expected = package_files()
    wheels = sorted(DIST.glob(f"{PACKAGE}-{expected_version}-*.whl"))
    sdists = sorted(DIST.glob(f"{PACKAGE}-{expected_version}.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist of {expected_version} in {DIST}, found {wheels + sdists}")
        return 1
    problems = check_wheel(wheels[0], expected, expected_version) + check_sdist(sdists[0], expected, expected_version)
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

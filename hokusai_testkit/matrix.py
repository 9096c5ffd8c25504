"""
The compatibility matrix: the one definition of the cells ``make test-matrix`` runs (tests/matrix), which
docs/compatibility.md lists and pyproject's ranges and classifiers must agree with (tests/unit/test_compatibility.py).

A cell is a fresh virtualenv holding the built wheel with some of its extras, one Airflow and one mlflow-skinny
version, the provider floors it tests, and the pins that Airflow minor needs when installed without Airflow's
constraint files. :func:`cell_virtualenv` builds it with ``uv``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "AIRFLOW_RANGE",
    "CELLS",
    "MLFLOW_SKINNY_RANGE",
    "PROVIDER_FLOORS",
    "Cell",
    "build_wheel",
    "cell_virtualenv",
    "installed_versions",
    "lock_pins",
    "locked_virtualenv",
    "site_packages_size",
]

#: ``Requires-Dist`` ranges: the floors are the oldest cells' versions, the caps the next major.
AIRFLOW_RANGE = ">=3.1.8,<4"
MLFLOW_SKINNY_RANGE = ">=3.3.0,<4"
#: The extras' provider floors (the oldest versions that work: older amazon releases import a module Airflow 3
#: removed; both tested in the floor cell).
PROVIDER_FLOORS = {"apache-airflow-providers-amazon": "9.3.0", "apache-airflow-providers-redis": "3.8.0"}
#: Which provider each extra brings.
EXTRA_PROVIDERS = {"redis": ("apache-airflow-providers-redis",), "amazon": ("apache-airflow-providers-amazon",)}


@dataclass(frozen=True)
class Cell:
    """
    One tested combination.

    :param name: Its id in test names and docs/compatibility.md.
    :param airflow: The exact ``apache-airflow`` version.
    :param mlflow_skinny: The exact ``mlflow-skinny`` version.
    :param extras: The wheel's extras installed (``redis``, ``amazon``, ``all``).
    :param providers: Exact provider versions (e.g. the floors); unpinned providers resolve to the newest.
    :param pins: Constraints this Airflow minor needs without Airflow's constraint files, with the reason.
    :param why: What the cell is for, one line.
    """

    name: str
    airflow: str
    mlflow_skinny: str
    extras: tuple[str, ...]
    why: str
    providers: Mapping[str, str] = field(default_factory=dict)
    pins: Mapping[str, str] = field(default_factory=dict)

    @property
    def backends(self) -> tuple[str, ...]:
        """The queue backends its extras install: ``redis`` and/or ``amazon``."""
        wanted = set(self.extras)
        return tuple(b for b in EXTRA_PROVIDERS if b in wanted or "all" in wanted)

    def requirements(self, wheel: Path) -> list[str]:
        """What ``uv pip install`` gets: the wheel with the extras, Airflow, mlflow-skinny, the pinned providers."""
        return [
            f"airflow-provider-hokusai[{','.join(self.extras)}] @ {wheel.resolve().as_uri()}",
            f"apache-airflow=={self.airflow}",
            f"mlflow-skinny=={self.mlflow_skinny}",
            *(f"{name}=={version}" for name, version in self.providers.items()),
        ]


#: Name, Airflow, mlflow-skinny, extras, what for; then provider versions and pins where the cell has them.
CELLS = (
    Cell("floor", "3.1.8", "3.3.0", ("all",), "the oldest Airflow, mlflow-skinny and providers; both backends",
         providers=PROVIDER_FLOORS),
    Cell("airflow-3.2", "3.2.2", "3.10.1", ("amazon",), "the middle minor with its pins; the SQS extra alone",
         pins={
             "fastapi<0.137": "newer fastapi (and cadwyn 9) stop Airflow 3.2's api-server at start",
             "svcs<26": "svcs 26 breaks Airflow 3.2's in-process execution API (dag.test, airflow dags test)",
         }),
    Cell("newest", "3.3.2", "3.18.0", ("redis",), "the newest Airflow and mlflow-skinny; the Redis extra alone"),
)  # fmt: skip


def _run(args: list[str], timeout: float = 600) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def build_wheel(uv: Path, project: Path, out_dir: Path) -> Path:
    """``uv build --wheel`` of ``project`` into ``out_dir``; the wheel's path."""
    _run([str(uv), "build", "--wheel", "--out-dir", str(out_dir), str(project)])
    (wheel,) = out_dir.glob("airflow_provider_hokusai-*.whl")
    return wheel


def lock_pins(lock: Path) -> dict[str, str]:
    """``name -> version`` of a ``uv pip compile`` lock file (requirements/lock.txt)."""
    pins = {}
    for line in lock.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith((" ", "#", "-")):
            pins[name.strip().lower()] = version.strip()
    return pins


def locked_virtualenv(venv: Path, uv: Path, python: str, pins: Mapping[str, str]) -> list[str]:
    """
    A fresh virtualenv at ``venv``; the ``uv pip install`` command that installs into it with every version as
    ``pins`` has it (as constraints, so that ``uv`` resolves from its cache). Requirements follow the command.
    """
    _run([str(uv), "venv", "--quiet", "--python", python, str(venv)])
    constraints = venv / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    return [str(uv), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "-c", str(constraints)]


def cell_virtualenv(cell: Cell, wheel: Path, venv: Path, uv: Path, python: str) -> Path:
    """
    A fresh virtualenv at ``venv`` with ``cell``'s requirements, its pins as constraints; its interpreter.

    :param python: The interpreter the virtualenv is made from.
    """
    _run([str(uv), "venv", "--quiet", "--python", python, str(venv)])
    constraints = venv / "constraints.txt"
    constraints.write_text("".join(f"{pin}\n" for pin in cell.pins))
    interpreter = venv / "bin" / "python"
    _run([str(uv), "pip", "install", "--quiet", "--python", str(interpreter), "-c", str(constraints),
          *cell.requirements(wheel)])  # fmt: skip
    return interpreter


def installed_versions(uv: Path, interpreter: Path) -> dict[str, str]:
    """``name -> version`` of every distribution in the virtualenv of ``interpreter``."""
    import json

    listing = json.loads(_run([str(uv), "pip", "list", "--python", str(interpreter), "--format", "json"]))
    return {str(d["name"]).lower(): str(d["version"]) for d in listing}


def site_packages_size(venv: Path) -> int:
    """Bytes under the virtualenv's ``site-packages``."""
    (site,) = venv.glob("lib/python*/site-packages")
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())

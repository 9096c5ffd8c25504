"""
How fast the commands answer ``--help``: ``hokusai-reconcile --help`` and ``hokusai-webhook --help`` as installed,
each in a fresh interpreter, against ``python -c pass`` (the interpreter's own start) in the same rounds. Goal: each
help in under 1 s.

Usage: ``python -m bench.cli [--rounds N]``; also part of ``python -m bench.run`` (``--only cli``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import median

__all__ = ["GOAL_SECONDS", "bench_cli", "render"]

BIN = Path(sys.executable).parent
GOAL_SECONDS = 1.0
COMMANDS = {
    "hokusai-reconcile --help": [str(BIN / "hokusai-reconcile"), "--help"],
    "hokusai-webhook --help": [str(BIN / "hokusai-webhook"), "--help"],
}
BASELINE = [sys.executable, "-c", "pass"]


def _seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return time.perf_counter() - start


def bench_cli(rounds: int) -> list[dict[str, Any]]:
    """One row per command: median seconds, the baseline's, the median per-round ratio, and whether the goal holds."""
    rows = []
    for subject, argv in COMMANDS.items():
        _seconds(argv)  # warm the file cache; not counted
        ours, raw, ratios = [], [], []
        for _ in range(rounds):
            base = _seconds(BASELINE)
            mine = _seconds(argv)
            raw.append(base)
            ours.append(mine)
            ratios.append(mine / base)
        rows.append(
            {
                "benchmark": "cli",
                "subject": subject,
                "baseline": "python -c pass",
                "ours": round(median(ours) * 1000, 1),
                "raw": round(median(raw) * 1000, 1),
                "unit": "ms",
                "ratio": round(median(ratios), 3),
                "ratio_min": round(min(ratios), 3),
                "ratio_max": round(max(ratios), 3),
                "rounds": rounds,
                "goal": f"< {GOAL_SECONDS:g} s",
                "goal_met": max(ours) < GOAL_SECONDS,
            }
        )
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    """The rows as text, one a line."""
    return "\n".join(
        f"{r['subject']:26} {r['ours']:7.1f} ms vs {r['baseline']} {r['raw']:6.1f} ms: ratio {r['ratio']:.2f} "
        f"({r['ratio_min']:.2f}-{r['ratio_max']:.2f}); goal {r['goal']}: {'met' if r['goal_met'] else 'MISSED'}"
        for r in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median taken)")
    args = parser.parse_args(argv)
    print(render(bench_cli(args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run every ``bench/bench_*.py`` in turn, each in its own interpreter, and print their tables.

Usage::

    .venv/bin/python bench/run_all.py                  # every benchmark (what `make bench` runs)
    .venv/bin/python bench/run_all.py core             # only the scripts whose name contains "core"
    .venv/bin/python bench/run_all.py -- --quick       # pass --quick to every script

The scripts run one after another, never together: each measures wall time on a machine with
few cores, and two at once would slow each other down. A script that fails does not stop the
others; the exit status is non-zero if any failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def discover(patterns: list[str]) -> list[Path]:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if patterns:
        scripts = [s for s in scripts if any(p in s.stem for p in patterns)]
    return scripts


def run_script(script: Path, args: list[str]) -> tuple[int, float]:
    """Run one script with its output going straight to ours; (exit status, seconds)."""
    print(f"<!-- {script.relative_to(BENCH_DIR.parent)} -->", flush=True)
    started = time.perf_counter()
    status = subprocess.call([sys.executable, str(script), *args], cwd=BENCH_DIR.parent)
    return status, time.perf_counter() - started


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(name patterns, arguments for every script): the latter come after ``--``."""
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, []


def main(argv: list[str] | None = None) -> int:
    patterns, script_args = split_args(sys.argv[1:] if argv is None else argv)
    scripts = discover(patterns)
    if not scripts:
        print(f"no bench_*.py in {BENCH_DIR} matches {patterns}", file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        status, seconds = run_script(script, script_args)
        print(f"\n<!-- {script.name}: exit {status}, {seconds:.0f} s -->\n", flush=True)
        if status != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

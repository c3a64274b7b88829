"""Helpers shared by the benchmark scripts: the machine, timing, memory, store size, tables.

Each benchmark measures one case per child process (``run_case``), so a row's peak RSS is that
case's own high-water mark and not the largest of everything run before it in the same process.
"""

from __future__ import annotations

import json
import os
import platform
import pstats
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
import tracemalloc
from cProfile import Profile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

BENCH_DIR = Path(__file__).resolve().parent
RESULT_PREFIX = "BENCH-RESULT "  # marks the one JSON line a case prints for its parent


# --- the machine ------------------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    """What a reader needs to compare a recorded table with their own numbers."""
    import dspy

    import plait

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": _cpu_model(),
        "cores": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "memory": f"{_total_memory_gb():.0f} GB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "plait": f"{plait.__version__} ({_git_commit()})",
        "dspy": dspy.__version__,
        # Other work on the machine slows every row; record it next to the numbers.
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?",
    }


def _git_commit() -> str:
    """The commit measured, marked "+edits" when plait/ differs from it: numbers belong to code."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=BENCH_DIR.parent, capture_output=True, text=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        return f"{commit}+edits" if commit and git("status", "--porcelain", "--", "plait") else commit or "no git"
    except OSError:
        return "no git"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return 0.0


def machine_line() -> str:
    info = machine_info()
    return (f"{info['date']}: {info['cpu']}, {info['cores']} cores, {info['memory']}, {info['os']}, "
            f"Python {info['python']}, SQLite {info['sqlite']}, plait {info['plait']}, dspy {info['dspy']}, "
            f"load average {info['load']}")


# --- time and memory --------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(fn(), wall seconds, CPU seconds of this process). CPU time barely moves when other work
    shares the machine, wall time does: report both."""
    cpu, started = cpu_seconds(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started, cpu_seconds() - cpu


def cpu_seconds() -> float:
    """User plus system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def reset_peak_rss() -> bool:
    """Start a new RSS high-water mark here (Linux >= 4.0), so a case's peak is its run's and not
    the import's. False where the kernel offers no reset; peak_rss_mb then covers the process."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def mark_rss() -> float:
    """The RSS now, in MB, and a fresh high-water mark from here: call it just before a timed run."""
    reset_peak_rss()
    return current_rss_mb()


def peak_rss_mb() -> float:
    """The resident-set high-water mark since reset_peak_rss (or since the process started)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def current_rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def python_heap_peak_mb(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(fn(), peak MB of Python allocations during it). tracemalloc slows code several-fold:
    never use it in a timed run."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 2**20


# --- the store --------------------------------------------------------------------------------
def sqlite_store_bytes(path: str | Path) -> int:
    """Bytes on disk of an SQLite store: checkpoint the WAL into the main file first, then count
    the file and whatever WAL is left (the -shm index holds no data)."""
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = Path(f"{path}-wal")
    return Path(path).stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# --- one case per child process ---------------------------------------------------------------
def emit_result(result: dict[str, Any]) -> None:
    """Print a case's result for its parent (one JSON line, found by its prefix)."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_case(script: str | Path, args: Sequence[str], timeout: float = 1800,
             python: str | Path | None = None) -> dict[str, Any]:
    """Run ``script args`` in a fresh interpreter (this one, or ``python``: a peer's venv) and
    return the result it emitted."""
    command = [str(python or sys.executable), str(script), *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise RuntimeError(f"{Path(script).name} {' '.join(args)} emitted no result (exit {proc.returncode}):\n"
                       f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


@dataclass
class Case:
    """One row of a table: a label, how it runs, the child's arguments for repeat i, the results;
    ``script`` and ``python`` when the row runs another script or interpreter than the table's."""

    label: str
    how: str
    args: Callable[[int], Sequence[str]]
    results: list[dict[str, Any]] = field(default_factory=list)
    script: Path | None = None
    python: Path | None = None


def run_interleaved(script: str | Path, cases: Sequence[Case], repeats: int, long_run: float | None = None) -> None:
    """Repeat i of every case before repeat i+1 of any, so a slow spell on a shared machine slows
    every row alike and the ratios between rows hold. A case whose first run took longer than
    ``long_run`` seconds is measured once."""
    for i in range(repeats):
        for case in cases:
            if i and long_run is not None and case.results[0]["wall"] > long_run:
                continue
            case.results.append(run_case(case.script or script, case.args(i), python=case.python))


def median_of(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return median(values) if values else None


# --- profiles ---------------------------------------------------------------------------------
def profile_summary(profiler: Profile, title: str, top: int = 15) -> str:
    """The ``top`` functions by cumulative and by own time, as short text with short paths."""
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, ncalls, own, cumulative, callers)}
    rows = [(_where(key), value) for key, value in stats.items() if not _is_wrapper(key)]
    lines = [title, machine_line(),
             "Seconds are inflated by the profiler; read them as proportions. The event loop's own frames",
             "(asyncio, Context.run) and the entry wrappers are left out."]
    for heading, column in (("cumulative", 3), ("own time", 2)):
        best = sorted(rows, key=lambda row: row[1][column], reverse=True)[:top]
        lines += ["", f"top {top} by {heading}:", f"{'calls':>9} {'own s':>7} {'cum s':>7}  function"]
        lines += [f"{v[1]:>9} {v[2]:>7.3f} {v[3]:>7.3f}  {where}" for where, v in best]
    return "\n".join(lines) + "\n"


def _is_wrapper(key: tuple[str, int, str]) -> bool:
    # Frames every call passes through: they top a cumulative list and say nothing about cost.
    file, _, name = key
    return ("/asyncio/" in file or name == "<method 'run' of '_contextvars.Context' objects>"
            or file.startswith(str(BENCH_DIR)) or file.endswith("runtime/sync.py")
            or (name == "run" and file.endswith("compiler/compiled.py")))


def _where(key: tuple[str, int, str]) -> str:
    # Paths relative to site-packages, the repository or the standard library: short, unambiguous.
    file, line, name = key
    repo = str(BENCH_DIR.parent) + "/"
    if "site-packages/" in file:
        file = file.split("site-packages/", 1)[1]
    elif file.startswith(repo):
        file = file[len(repo):]
    else:
        file = re.sub(r"^.*/lib/python3\.\d+/", "", file)
    return f"{file}:{line}({name})" if line else name


# --- tables -----------------------------------------------------------------------------------
def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; numbers right-aligned."""
    rows = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if n else ("-" * (w + 2)) for w, n in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).replace("x", "").lstrip("-").isdigit() or text == "—"

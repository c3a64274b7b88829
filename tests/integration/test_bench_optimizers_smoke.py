"""bench/bench_optimizers.py end to end at a tiny size on fake LMs (``--smoke``), so the script that
compares plait's optimizers with DSPy's cannot rot: every row, both frameworks, every task; and
bench/bench_demo_order.py, which scores BootstrapFewShot's demos in every order, the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dspy")
ROOT = Path(__file__).resolve().parents[2]
ROWS = ["zero-shot (no optimizer)", "BootstrapFewShot", "RandomSearch", "MIPRO"]


def smoke_table(script: str) -> list[list[str]]:
    """The cells of the table ``bench/<script> --smoke`` prints (header left out)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--smoke"], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_the_optimizer_bench_runs_every_row_for_both_frameworks():
    cells = smoke_table("bench_optimizers.py")
    for task in ("people", "sentiment", "antonyms"):
        rows = {(c[1], c[2]) for c in cells if c[0] == task}
        assert {(side, row) for side in ("DSPy", "plait") for row in ROWS} <= rows
        assert ("plait", "RandomSearch at DSPy's budget") in rows and ("plait", "RandomSearch extended by 1") in rows
    extended = [c for c in cells if c[2] == "RandomSearch extended by 1"]
    searched = {c[0]: c for c in cells if c[1] == "plait" and c[2] == "RandomSearch"}
    for row in extended:  # the extension paid only for its new candidate: fewer calls than the search
        assert int(row[4]) < int(searched[row[0]][4]) and row[5] == "0"
    # a new candidate whose demos equal an earlier one's (sentiment's demos all show both labels) is
    # answered by the store; elsewhere the new candidate costs calls
    assert any(int(row[4]) > 0 for row in extended)


def test_the_demo_order_bench_scores_every_student_on_every_demo_set():
    cells = smoke_table("bench_demo_order.py")
    assert {(c[0], c[1]) for c in cells} == {(s, d) for s in ("DSPy", "plait") for d in ("DSPy", "plait")}
    assert all(c[7].endswith(" of 2") and c[3].endswith("%") for c in cells)  # two orders of each set scored

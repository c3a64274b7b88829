"""The scale model and the scale benchmark run, on a tiny size (their numbers are not checked here:
the machine is shared; they are recorded by hand, see docs/scale.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import scale_model

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_model_agrees_with_its_simulation_on_a_small_run(capsys):
    scale_model.main(["--items", "50", "--simulate", "50", "--workers", "1", "4", "--in-flight", "4",
                      "--latency", "0.1", "0.2"])
    out = capsys.readouterr().out
    assert "| 3,016 | 4 | 16 | LM latency |" in out and "model against an event-by-event simulation" in out
    s = scale_model.System(2000, 4, 8, (1.0, 10.0), 3016.0)
    model, simulated = scale_model.predicted(s), scale_model.simulate(s)
    assert abs(model["wall_s"] - simulated["wall_s"]) / simulated["wall_s"] < 0.1


def test_the_model_finds_the_store_bound():
    s = scale_model.System(1_000_000, 1000, 32, (1.0, 10.0), 3016.0)
    p = scale_model.predicted(s)
    assert p["bound"] == "store" and abs(p["items_per_s"] - 3016.0 / 6) < 1.0


def test_the_scale_benchmark_runs_on_a_tiny_size():
    proc = subprocess.run([sys.executable, str(BENCH / "bench_scale.py"), "--items", "50", "--latency-items", "20",
                           "--latency", "0.01", "--in-flight", "8", "--rows", "store-sqlite,local-sqlite,latency-local,local-postgres"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split("|")[1].strip() for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == ["row", "store-sqlite", "local-sqlite", "latency-local", "local-postgres"]
    assert "| local-postgres | skipped: no --postgres URL |" in proc.stdout

"""Kill an optimization (MIPRO) with SIGKILL at a random moment, start it again, count LM calls.

DESIGN.md: optimizers' evaluations are ordinary checkpointed runs and their search state is
journaled, so a killed optimization started again with the same arguments resumes: finished
trials are loaded from the optuna journal, evaluations replay from the store by content key, and
the result equals an uninterrupted run's. LM calls repeat only for the calls in flight at the kill,
a node's re-ask included: "storm" never parses, and its replies are journaled as they arrive, so a
kill while its node re-asks repeats only that re-ask (README, guarantee 3)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import plait
from tests.crash import optimize_job as job
from tests.crash.test_crash_resume import count_calls

JOB = Path(job.__file__)
TIMEOUT = 120.0
SEED = int(os.environ.get("PLAIT_CRASH_SEED", time.time_ns() % 1_000_000))


_references: dict[str, dict] = {}


def uninterrupted(name: str, tmp_path_factory) -> dict:
    """An uninterrupted optimization in this process, with its own store: its plan and LM calls."""
    if name not in _references:
        store = tmp_path_factory.mktemp(f"reference-{name}") / "runs.db"
        lm = plait.ScriptedLM(job.answer)
        compiled = job.optimize(str(store), lm, name)
        _references[name] = {"nodes": compiled.to_json()["nodes"], "lm_calls": lm.calls}
    return _references[name]


@pytest.fixture
def reference(tmp_path_factory) -> dict:
    return uninterrupted("mipro", tmp_path_factory)


def start(tmp: Path, name: str, store: Path, calls: Path, optimizer: str = "mipro") -> subprocess.Popen:
    out, err = open(tmp / f"{name}.out", "wb"), open(tmp / f"{name}.err", "wb")
    return subprocess.Popen([sys.executable, str(JOB), str(store), str(calls), optimizer], stdout=out, stderr=err,
                            cwd=tmp)


def kill_at(proc: subprocess.Popen, calls: Path, threshold: int, tmp: Path, name: str) -> int:
    deadline = time.monotonic() + TIMEOUT
    while count_calls(calls) < threshold:
        assert proc.poll() is None, f"the child exited before {threshold} calls:\n{(tmp / f'{name}.err').read_text()}"
        assert time.monotonic() < deadline
        time.sleep(0.0005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(TIMEOUT) == -signal.SIGKILL
    return count_calls(calls)


def finish(proc: subprocess.Popen, tmp: Path, name: str) -> dict:
    rc = proc.wait(TIMEOUT)
    assert rc == 0, (tmp / f"{name}.err").read_text()
    (line,) = [l for l in (tmp / f"{name}.out").read_text().splitlines() if l.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("optimizer, point", [("mipro", "middle"), ("mipro", "random"), ("mipro", "twice"),
                                              ("gepa", "random"), ("random", "random")])
def test_a_killed_optimization_resumes_to_the_same_result(optimizer, point, tmp_path, tmp_path_factory,
                                                          record_property):
    reference = uninterrupted(optimizer, tmp_path_factory)
    total = reference["lm_calls"]
    rng = random.Random(f"{SEED}/{point}")
    kills = {"middle": [total // 2], "random": [rng.randrange(1, int(0.9 * total))],
             "twice": sorted(rng.sample(range(1, int(0.9 * total)), 2))}[point]
    print(f"{optimizer} {point}: kills at {kills} of {total} calls (PLAIT_CRASH_SEED={SEED})")
    store, calls = tmp_path / "runs.db", tmp_path / "calls.txt"
    procs = []
    try:
        for i, threshold in enumerate(kills):
            procs.append(proc := start(tmp_path, f"killed{i}", store, calls, optimizer))
            killed = kill_at(proc, calls, threshold, tmp_path, f"killed{i}")
        procs.append(proc := start(tmp_path, "resumed", store, calls, optimizer))
        result = finish(proc, tmp_path, "resumed")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    spent = count_calls(calls)
    numbers = dict(optimizer=optimizer, point=point, kills=kills, uninterrupted=total, killed_and_resumed=spent,
                   extra=spent - total,
                   extra_pct=round(100 * (spent - total) / total, 1), resumed_process=result["lm_calls"])
    record_property("numbers", numbers)
    print(numbers)
    assert result["nodes"] == reference["nodes"]  # the same prompts, demos and recorded scores
    assert spent <= total + job.MAX_IN_FLIGHT * len(kills)
    assert result["lm_calls"] > 0  # the kill landed before the end: the resumed process did finish the work
    assert result["lm_calls"] == spent - killed  # and every call after the last kill was its own


def test_a_finished_optimization_repeated_costs_no_lm_call(tmp_path, reference):
    store, calls = tmp_path / "runs.db", tmp_path / "calls.txt"
    first = finish(start(tmp_path, "first", store, calls), tmp_path, "first")
    again = finish(start(tmp_path, "again", store, calls), tmp_path, "again")
    assert first["nodes"] == again["nodes"] == reference["nodes"]
    assert first["lm_calls"] == reference["lm_calls"] and again["lm_calls"] == 0

"""Crash tests for agent loops: SIGKILL a real process during a 30-iteration ReAct loop (twice,
at random iterations), resume, and count every LM call and every tool call.

A loop runs its iterations one after another, so at a kill at most one LM call or one tool call
is in flight. Measured, not assumed: the calls counted in the files minus the iterations the
store recorded. Afterwards the totals must be the uninterrupted run's plus those in flight, every
repeated tool call must carry the same idempotency key as the first, and the outputs must equal
an uninterrupted run's.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

import plait
from tests.crash import loop_job as job
from tests.crash.child import Child, count_calls

JOB = Path(job.__file__)
ROOT = JOB.parents[2]
SEED = int(os.environ.get("PLAIT_CRASH_SEED", time.time_ns() % 1_000_000))


def kill_points(name: str) -> tuple[int, int]:
    """LM calls (tool calls, for 'inside-tools') counted before each of the two kills."""
    if name == "first-and-last":
        return 1, job.LM_CALLS - 2
    if name == "inside-tools":
        return 5, 20
    rng = random.Random(f"{SEED}-{name}")
    first = rng.randrange(1, job.ITERATIONS // 2)
    return first, rng.randrange(first + 2, job.ITERATIONS)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    store = tmp_path_factory.mktemp("reference") / "runs.db"
    lm = job.make_lm(latency=0.0)
    run = plait.compile(job.agent()).run([{"question": "count to 30"}], ids=["item-0"], store=str(store), lm=lm,
                                         progress=False)
    assert run.status == "done" and lm.calls == job.LM_CALLS
    return {r.item_id: dict(r.outputs) for r in run.items}


def loop_child(tmp: Path, name: str, *args: str, tool_latency: float = 0.0) -> Child:
    env = {**os.environ, "PLAIT_TOOL_LOG": str(tmp / "tools.txt"), "PLAIT_TOOL_LATENCY": str(tool_latency),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return Child(JOB, tmp, name, *args, env=env)


def recorded(store: Path, tmp: Path, name: str, run_id: str) -> tuple[int, int, int]:
    """In a copy of the store as the kill left it: (iterations recorded, iterations whose decision
    is recorded but not their tool's observation, extraction recorded)."""
    target = tmp / name
    target.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{store}{suffix}").exists():
            shutil.copy(f"{store}{suffix}", target / f"runs.db{suffix}")
    conn = sqlite3.connect(target / "runs.db")
    try:
        rows = conn.execute("SELECT node_id, iteration, attempts, status FROM journal"
                            " WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)",
                            (run_id,)).fetchall()
    finally:
        conn.close()
    iterations = [r for r in rows if r[0] == "re_act" and r[1] >= 1]
    assert all(r[2] == 1 for r in iterations)  # one LM call per recorded iteration (or decision)
    done = sum(1 for r in iterations if r[3] == "ok")
    proposed = sum(1 for r in iterations if r[3] == "proposed")
    return done, proposed, sum(1 for r in rows if r[0] == "re_act.extract" and r[3] == "ok")


@pytest.mark.parametrize("name", ["first-and-last", "random-a", "random-b", "inside-tools"])
def test_sigkill_in_a_loop_then_resume_repeats_only_calls_in_flight(name, tmp_path, reference, children):
    """'inside-tools': a slow tool, killed while it runs: the repeat carries the same idempotency key."""
    store, calls, tools = tmp_path / "runs.db", tmp_path / "calls.txt", tmp_path / "tools.txt"
    points, latency = kill_points(name), 0.05 if name == "inside-tools" else 0.0
    watched = tools if name == "inside-tools" else calls
    print(f"kills at {points} calls of {watched.name} (PLAIT_CRASH_SEED={SEED})")
    children.append(child := loop_child(tmp_path, "run", "run", str(store), str(calls), tool_latency=latency))
    run_id, lm_repeats, tool_repeats = None, 0, 0
    for k, point in enumerate(points):
        child.kill_at(watched, point)
        run_id = run_id or child.lines("RUN ")[0]
        iterations, proposed, extracted = recorded(store, tmp_path, f"kill-{k}", run_id)
        lm_in_flight = count_calls(calls) - iterations - proposed - extracted - lm_repeats
        tool_in_flight = count_calls(tools) - min(iterations, job.TOOL_CALLS) - tool_repeats
        assert lm_in_flight in (0, 1) and tool_in_flight in (0, 1), (point, lm_in_flight, tool_in_flight)
        lm_repeats, tool_repeats = lm_repeats + lm_in_flight, tool_repeats + tool_in_flight
        children.append(child := loop_child(tmp_path, f"resume-{k}", "resume", str(store), str(calls), run_id,
                                       tool_latency=latency))
    result = child.finish()
    print({"kills": points, "lm_calls": count_calls(calls), "tool_calls": count_calls(tools), "lm_repeated": lm_repeats,
           "tool_repeated": tool_repeats})
    assert result["status"] == "done" and result["outputs"] == reference
    assert count_calls(calls) == job.LM_CALLS + lm_repeats
    assert count_calls(tools) == job.TOOL_CALLS + tool_repeats
    keys = Counter(line.split()[1] for line in tools.read_text().splitlines())
    assert len(keys) == job.TOOL_CALLS  # a repeated call got the key of its first attempt
    if name == "inside-tools":  # killed inside a tool call: the tool repeats, the LM call does not
        assert tool_repeats == 2 and sorted(keys.values())[-2:] == [2, 2] and lm_repeats == 0
    again = loop_child(tmp_path, "again", "resume", str(store), str(calls), run_id)
    children.append(again)
    assert again.finish()["status"] == "done" and count_calls(calls) == job.LM_CALLS + lm_repeats  # nothing left to call

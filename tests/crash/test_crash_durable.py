"""Kill tests for the journaled way (plait.durable): SIGKILL a real process running a DSPy program,
resume in another process, and count every LM call.

Each item's forward runs again on resume; every call the killed run recorded must return its
recorded output with no LM call, so the resume makes exactly the calls the journal lacks, and the
calls repeated overall are only those in flight at the kill (at most one per item in flight).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import plait
from tests.crash import durable_job as job
from tests.crash import durable_programs as programs
from tests.crash.child import Child, count_calls

JOB = Path(job.__file__)
ITEMS = 40


def reference(name: str) -> tuple[dict, int]:
    """An uninterrupted run's outputs and LM calls, in this process, with no store."""
    lm = programs.EchoLM()
    run = plait.durable(getattr(programs, name)()).run(job.items(name, ITEMS), ids=[f"item-{i:03d}" for i in range(ITEMS)],
                                                       store=False, lm=lm, progress=False)
    assert run.status == "done"
    return job.outputs_of(run), lm.calls


def recorded_calls(store: Path, run_id: str) -> int:
    """The predictor calls the store recorded as answered by the LM, for the run."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT count(*) FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
                              " AND status='ok' AND source='lm'",
                              (run_id,)).fetchone()
    return count


@pytest.mark.parametrize("name", ["MultiHop", "Agent"])
def test_killed_durable_run_resumes_repeating_only_calls_in_flight(name, tmp_path, children):
    expected, total = reference(name)
    store, calls = tmp_path / "runs.db", tmp_path / "calls.txt"
    first = Child(JOB, tmp_path, "run", "run", name, str(store), str(calls), str(ITEMS))
    children.append(first)
    made = first.kill_at(calls, total // 3)
    (run_id,) = first.lines("RUN ")
    recorded = recorded_calls(store, run_id)
    in_flight = made - recorded
    assert 0 <= in_flight <= job.CONCURRENCY, (made, recorded)
    assert 0 < recorded < total

    second = Child(JOB, tmp_path, "resume", "resume", name, str(store), str(calls), str(ITEMS), run_id)
    children.append(second)
    result = second.finish()
    assert result["status"] == "done" and result["run_id"] == run_id
    assert count_calls(calls) - made == total - recorded  # every unrecorded call once, no recorded one
    assert result["lm_calls"] == total - recorded
    assert result["outputs"] == json.loads(json.dumps(expected))  # the same outputs as an uninterrupted run

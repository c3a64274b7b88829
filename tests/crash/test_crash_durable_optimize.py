"""Kill test for DSPy's own optimizer made durable: dspy.BootstrapFewShot under plait.durable_lm,
SIGKILLed in a real process and started again in another: the second process replays every call the
first recorded, makes only the rest, and ends with the same demos as an uninterrupted optimization."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.crash import durable_optimize_job as job
from tests.crash import durable_programs as programs
from tests.crash.child import Child, count_calls

JOB = Path(job.__file__)

pytestmark = pytest.mark.filterwarnings("ignore:Implementing custom LMs through BaseLM:DeprecationWarning")


def recorded_calls(store: Path, run_id: str) -> int:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT count(*) FROM journal WHERE run_id=? AND status='ok'", (run_id,)).fetchone()
    return count


def test_a_killed_dspy_optimization_resumes_at_the_cost_of_the_call_in_flight(tmp_path, children):
    lm = programs.EchoDSPyLM()
    expected = job.optimize(lm)  # plain DSPy, uninterrupted, in this process
    total = lm.calls
    store, calls = tmp_path / "opt.db", tmp_path / "calls.txt"
    args = (str(store), str(calls), "bootstrap-1")
    first = Child(JOB, tmp_path, "first", *args)
    children.append(first)
    made = first.kill_at(calls, total // 3)
    recorded = recorded_calls(store, "bootstrap-1")
    assert 0 < recorded and made - recorded <= 1  # BootstrapFewShot calls one at a time

    second = Child(JOB, tmp_path, "second", *args)
    children.append(second)
    result = second.finish()
    assert result["replayed"] == recorded and result["made"] == total - recorded
    assert count_calls(calls) - made == total - recorded  # only what the journal lacked
    assert result["demos"] == expected  # the same optimized program as without the kill

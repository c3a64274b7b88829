"""Kill tests for DSPy's own optimizers made durable: dspy.BootstrapFewShot and dspy.MIPROv2 under
plait.durable_lm, SIGKILLed in a real process and started again in another: the second process
replays every call the first recorded, makes only the rest, and ends with the same instructions and
demos as an uninterrupted optimization."""

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
        (count,) = db.execute("SELECT count(*) FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
                              " AND status='ok'", (run_id,)).fetchone()
    return count


@pytest.mark.parametrize("optimizer, in_flight", [("bootstrap", 1), ("mipro", 2)])  # mipro: two threads
def test_a_killed_dspy_optimization_resumes_at_the_cost_of_the_calls_in_flight(optimizer, in_flight, tmp_path,
                                                                              children):
    reference = tmp_path / "reference-calls.txt"  # a file: DSPy's copies of the LM count there too
    expected = job.optimize(programs.EchoDSPyLM(calls_file=str(reference)), optimizer)  # plain DSPy, uninterrupted
    total = count_calls(reference)
    store, calls = tmp_path / "opt.db", tmp_path / "calls.txt"
    args = (str(store), str(calls), "opt-1", optimizer)
    first = Child(JOB, tmp_path, "first", *args)
    children.append(first)
    made = first.kill_at(calls, total // 3)
    recorded = recorded_calls(store, "opt-1")
    assert 0 < recorded and made - recorded <= in_flight

    second = Child(JOB, tmp_path, "second", *args)
    children.append(second)
    result = second.finish()
    assert result["replayed"] == recorded and result["made"] == total - recorded
    assert count_calls(calls) - made == total - recorded  # only what the journal lacked
    assert result["state"] == expected  # the same optimized program as without the kill

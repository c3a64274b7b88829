"""Crash test for retrieval: SIGKILL a real process mid-run, resume in another, count retrievals.

A retrieval is a node like an LM call (DESIGN.md contracts 4 and 5): after the kill, every
retrieval the store recorded is replayed by the resume and never run again, every other one runs
exactly once, the resuming process loads the index from disk instead of rebuilding it, and the
outputs equal an uninterrupted run's.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

import plait
from tests.crash import retrieve_job as job
from tests.crash.child import Child, count_calls

ITEMS = 120
RETRIEVALS = 2 * ITEMS
KILL_AT = 80  # LM calls (of 240) before the kill


def recorded_retrievals(store: Path, tmp: Path, run_id: str) -> int:
    """Counted on a copy of the store files as the kill left them (reading must not tidy the WAL)."""
    copy = tmp / "snapshot"
    copy.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{store}{suffix}").exists():
            shutil.copy(f"{store}{suffix}", copy / f"runs.db{suffix}")
    with sqlite3.connect(copy / "runs.db") as db:
        return db.execute("SELECT COUNT(*) FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
                          " AND status='ok' AND node_id LIKE "
                          "'two_hop.retrieve%'", (run_id,)).fetchone()[0]


@pytest.mark.slow
def test_sigkill_then_resume_runs_each_retrieval_once_and_reuses_the_index(tmp_path, children):
    reference = plait.compile(job.TwoHop(str(tmp_path / "ref-indexes"))).run(
        job.items(ITEMS), ids=job.item_ids(ITEMS), store=False, lm=plait.ScriptedLM(job.answer), progress=False)
    store, calls, indexes = tmp_path / "runs.db", tmp_path / "calls.txt", str(tmp_path / "indexes")
    children.append(run := Child(job.__file__, tmp_path, "run", "run", str(store), str(calls), indexes, str(ITEMS)))
    run.kill_at(calls, KILL_AT)
    (run_id,) = run.lines("RUN ")
    recorded = recorded_retrievals(store, tmp_path, run_id)
    assert 0 < recorded < RETRIEVALS

    children.append(resume := Child(job.__file__, tmp_path, "resume", "resume", str(store), str(calls), indexes,
                                            str(ITEMS), run_id))
    result = resume.finish()
    assert result["status"] == "done"
    assert result["retrievals"] == RETRIEVALS - recorded  # recorded ones replayed, the rest run once
    assert result["builds"] == 0  # the index the killed process built is loaded from disk
    assert result["outputs"] == job.outputs_of(reference)
    assert count_calls(calls) >= 2 * ITEMS

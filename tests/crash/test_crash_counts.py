"""A run's totals survive a SIGKILL: they are the sum of its journal, so after a resume they count
every call the store recorded, over both processes; only the calls in flight at the kill (served,
never recorded) are missing, and those are bounded by the concurrency (DESIGN.md, contracts 4, 11)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from plait.cli import cli
from tests.crash import pipeline_job as job
from tests.crash.child import Child, count_calls
from tests.crash.test_crash_resume import read, snapshot

JOB = Path(job.__file__)
ITEMS = 60
TOTAL_CALLS = ITEMS * 4  # four LM nodes, one call each: the scripted LM always parses


def journal_requests(store: Path, run_id: str) -> int:
    return read(store, "SELECT COALESCE(SUM(requests), 0) FROM journal"
                       " WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)", run_id)[0][0]


def test_totals_after_a_kill_and_a_resume_are_the_journals(tmp_path, children):
    store, calls_file = tmp_path / "runs.db", tmp_path / "calls.txt"
    children.append(run := Child(JOB, tmp_path, "run", "run", str(store), str(calls_file), str(ITEMS)))
    at_kill = run.kill_at(calls_file, TOTAL_CALLS // 2)
    (run_id,) = run.lines("RUN ")
    recorded = journal_requests(snapshot(store, tmp_path, "after_kill"), run_id)
    assert 0 <= at_kill - recorded <= job.MAX_IN_FLIGHT  # the calls in flight were served, never recorded

    children.append(resume := Child(JOB, tmp_path, "resume", "resume", str(store), str(calls_file), str(ITEMS), run_id))
    result = resume.finish()
    totals, made = result["totals"], count_calls(calls_file)
    assert result["status"] == "done" and result["lm_calls"] == made - at_kill  # this invocation: its own calls
    assert totals["lm_calls"] == totals["lm_answered"] == recorded + result["lm_calls"] == journal_requests(store, run_id)
    assert totals["lm_calls"] == TOTAL_CALLS == made - (at_kill - recorded) and totals["lm_nodes"] == TOTAL_CALLS
    shown = json.loads(CliRunner().invoke(cli, ["show", run_id, "--store", str(store), "--json"]).output)
    assert shown["run"]["totals"]["lm_calls"] == TOTAL_CALLS
    assert shown["run"]["totals"]["prompt_tokens"] == totals["prompt_tokens"] > 0

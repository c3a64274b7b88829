"""The commit window (README, guarantee 4): records are committed by the store's writer thread, and a
node counts as done only once its record is committed. A process killed after a node's LM answered
but before its record was committed repeats that one call on resume, and no other.

The child (commit_job.py) runs the diamond pipeline one item at a time and holds its writer thread
just before it commits one chosen node's record; the parent kills it there with SIGKILL.
"""

from __future__ import annotations

import time
from pathlib import Path

from plait.checkpoints.location import open_location
from tests.crash import commit_job
from tests.crash.child import TIMEOUT, Child, count_calls

JOB = Path(commit_job.__file__)
ITEMS = 6
HOLD = ("item-0003", "diamond.final")  # the 16th LM call, alone in flight: its item's last


def wait_for_line(child: Child, line: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while line not in child.lines(""):
        assert child.proc.poll() is None, f"the child exited before it printed {line}:\n{child.err.read_text()}"
        assert time.monotonic() < deadline, f"no {line} within {TIMEOUT}s"
        time.sleep(0.01)


def test_a_kill_between_a_reply_and_its_commit_repeats_only_that_call(store_url, tmp_path, children):
    calls_file = tmp_path / "calls.txt"
    child = Child(JOB, tmp_path, "run", "run", store_url, str(calls_file), str(ITEMS), *HOLD)
    children.append(child)
    wait_for_line(child, f"HELD {HOLD[0]}:{HOLD[1]}")  # that record alone
    child.kill_at(calls_file, 0)
    before = count_calls(calls_file)
    assert calls_file.read_text().splitlines()[-1] == HOLD[1]  # its LM answered; its record was held

    store = open_location(store_url, create=False)
    try:
        (run,) = store.list_runs()
        recorded = {(i, n) for (i, n, _), r in store.journal(run.run_id).items() if r.source == "lm"}
    finally:
        store.close()
    assert HOLD not in recorded and len(recorded) == before - 1  # every other answered call is committed

    resumed = Child(JOB, tmp_path, "resume", "resume", store_url, str(calls_file), str(ITEMS), run.run_id)
    children.append(resumed)
    result = resumed.finish()
    repeated = calls_file.read_text().splitlines()[before:]
    assert result["status"] == "done" and len(result["outputs"]) == ITEMS
    # the resume called the held node once, and then the nodes nobody had called yet
    assert repeated.count(HOLD[1]) == ITEMS - 3 and len(repeated) == ITEMS * 4 - before + 1

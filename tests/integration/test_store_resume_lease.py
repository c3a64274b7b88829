"""Two processes resuming the same run at once: exactly one proceeds, the other is told who holds
it; after the holder is SIGKILLed a new resume (on the same host: at once) finishes the run, and
every node output is recorded once, with one value. Against an SQLite file and a PostgreSQL database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import plait
from plait.checkpoints.location import open_location
from tests.crash import pipeline_job as job
from tests.stores import execute

ROOT = Path(__file__).resolve().parents[2]
TTL = 1.0
# Resumes RUN with a slow scripted LM and a short lease; prints RESULT or LEASEHELD <pid>.
RESUMER = """
import sys, json
import plait
from plait.checkpoints.lease import LeaseHeld
from tests.crash import pipeline_job as job
store, run_id, latency, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
try:
    run = plait.resume(run_id, store=store, lm=job.make_lm(latency=latency), concurrency=4, progress=False,
                       lease_ttl=ttl)
except LeaseHeld as exc:
    print("LEASEHELD", exc.lease.pid, flush=True)
    sys.exit(4)
print("RESULT", json.dumps({"status": run.status, "lm_calls": run.stats.lm_calls}), flush=True)
"""


def _resumer(tmp: Path, name: str, store: str, run_id: str, latency: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", RESUMER, str(store), run_id, str(latency), str(TTL)], cwd=ROOT,
                            text=True, stdout=open(tmp / f"{name}.out", "w"), stderr=open(tmp / f"{name}.err", "w"))
    proc.out = tmp / f"{name}.out"
    return proc


def test_two_resumes_of_one_run_one_proceeds_and_a_killed_holder_is_taken_over(tmp_path, store_url):
    store = store_url
    stopped = plait.compile(job.Diamond()).run(job.items(40), ids=job.item_ids(40), store=str(store),
                                               lm=job.make_lm(latency=0.0), progress=False)
    opened = open_location(store)  # make the run unfinished: forget half its work
    execute(opened, "DELETE FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
                    " AND item_id >= 'item-0020'", stopped.id)
    execute(opened, "UPDATE items SET status='pending' WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
                    " AND item_id >= 'item-0020'", stopped.id)
    execute(opened, "DELETE FROM cache")

    first = _resumer(tmp_path, "first", store, stopped.id, latency=0.5)  # slow: still running below
    _wait(lambda: opened.lease(stopped.id) is not None)
    second = _resumer(tmp_path, "second", store, stopped.id, latency=0.0)
    assert second.wait(60) == 4
    assert second.out.read_text().split() == ["LEASEHELD", str(first.pid)]

    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    third = _resumer(tmp_path, "third", store, stopped.id, latency=0.0)
    assert third.wait(60) == 0, (tmp_path / "third.err").read_text()
    result = json.loads(third.out.read_text().split(" ", 1)[1])
    assert result["status"] == "done"
    journal = opened.journal(stopped.id)  # one row per node and item, each with the one right value
    assert len(journal) == 40 * 5 and all(row.status == "ok" for row in journal.values())
    for k, outputs in enumerate(stopped.outputs):
        row = journal[(f"item-{k:04d}", "outputs", 0)]
        assert json.loads(opened.read_value(row.value_hash)) == dict(outputs)
    assert opened.lease(stopped.id) is None  # released


def _wait(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)

"""One store, several real processes (DESIGN.md "Scale"; the issue "Survive the real world"); each
test runs against an SQLite file and a PostgreSQL database (tests/stores.py).

- Processes writing different runs to one store at once lose no write, and no "database is
  locked" reaches them.
- Two processes wanting the same run: exactly one gets its lease; the other is told who holds it.
  After the holder is SIGKILLed another process proceeds: at once on the same host (the holder's
  pid is gone), after the lease expires from another host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from plait.checkpoints.lease import LeaseHeld
from plait.checkpoints.location import open_location
from plait.checkpoints.protocol import RunRecord
from tests.stores import execute

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 4
ITEMS = 120

# Each writer imports plait, waits for the go file (so that all open the new store together),
# then runs a 4-LM-node pipeline over its own items into the shared store.
WRITER = """
import os, sys, time
from tests.crash import pipeline_job as job
import plait
store, go, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
print("READY", flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
run = plait.compile(job.Diamond()).run(job.items(count), ids=[f"{tag}-{i}" for i in range(count)], store=store,
                                       lm=job.make_lm(latency=0.0), concurrency=8, progress=False)
print(run.id, run.status, len(run.failed), flush=True)
"""

# Tries the run's lease once; on success keeps it (renewed every ttl/3) until killed.
LEASER = """
import os, sys, time
from plait.checkpoints.lease import LeaseHeld, LeaseKeeper
from plait.checkpoints.location import open_location
store, go, ttl = open_location(sys.argv[1]), sys.argv[2], float(sys.argv[3])
print("READY", flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
try:
    keeper = LeaseKeeper(store, "the-run", ttl=ttl).__enter__()
except LeaseHeld as exc:
    print("HELD", exc.lease.pid, flush=True)
    sys.exit(1)
print("ACQUIRED", os.getpid(), flush=True)
time.sleep(600)
"""


def _spawn(code: str, *args: str, tmp: Path, name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdout=open(tmp / f"{name}.out", "w"), stderr=open(tmp / f"{name}.err", "w"))
    proc.out, proc.err = tmp / f"{name}.out", tmp / f"{name}.err"
    return proc


def _said(proc: subprocess.Popen) -> list[str]:
    """What the child printed after READY (waiting a little for it)."""
    deadline = time.monotonic() + 10
    while len(words := proc.out.read_text().split()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return words[1:]


def _start_together(procs: list[subprocess.Popen], go: Path) -> None:
    """Once every child has imported plait, let them all go: they start within milliseconds."""
    deadline = time.monotonic() + 60
    while not all(p.out.read_text().startswith("READY") for p in procs):
        assert all(p.poll() is None for p in procs), "a child died before the start"
        assert time.monotonic() < deadline, "the children did not start"
        time.sleep(0.02)
    go.touch()


def test_processes_writing_different_runs_to_one_new_store_lose_nothing(tmp_path, store_url):
    store, go = store_url, tmp_path / "go"
    procs = [_spawn(WRITER, str(store), str(go), f"w{k}", str(ITEMS), tmp=tmp_path, name=f"w{k}")
             for k in range(WRITERS)]
    _start_together(procs, go)
    for proc in procs:
        assert proc.wait(120) == 0, proc.err.read_text()
        err = proc.err.read_text()
        assert "locked" not in err and "busy" not in err, err
    reported = [_said(proc) for proc in procs]
    assert all(status == "done" and failed == "0" for _, status, failed in reported)

    opened = open_location(store)
    runs = {r.run_id: r for r in opened.list_runs()}
    assert sorted(runs) == sorted(run_id for run_id, _, _ in reported)
    counts = opened.item_counts()
    for run_id, _, _ in reported:
        assert runs[run_id].status == "done" and counts[run_id] == {"done": ITEMS}
        journal = opened.journal(run_id)
        assert len(journal) == ITEMS * 5  # four LM nodes and the output, per item
        assert all(row.status == "ok" for row in journal.values())
        for row in list(journal.values())[:: ITEMS // 4]:
            opened.read_value(row.value_hash)


def test_connections_creating_one_new_store_at_once_never_see_a_lock_error(new_store_url, store_kind):
    # SQLite answers "database is locked" at once, without waiting, to a connection switching a new
    # file to WAL while another creates it (2% of 8-way races before the fix; SQLite's file locks
    # work between connections of one process as between processes, so threads show it quickly).
    for trial in range(100 if store_kind == "sqlite" else 10):  # a new database costs more than a new file
        path, errors = new_store_url(), []
        barrier = threading.Barrier(8)

        def open_and_write(k: int) -> None:
            barrier.wait()
            try:
                store = open_location(path)
                store.create_run(RunRecord(f"r{k}", store.save_plan("{}"), "done", 0.0, 0.0), [("0", b"{}")])
                store.close()
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_and_write, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        store = open_location(path)
        assert len(store.list_runs()) == 8
        store.close()


def test_exactly_one_process_gets_a_run_and_a_killed_holders_lease_expires(tmp_path, store_url):
    store, go, ttl = store_url, tmp_path / "go", 1.0
    open_location(store).close()
    procs = [_spawn(LEASER, str(store), str(go), str(ttl), tmp=tmp_path, name=f"l{k}") for k in range(2)]
    try:
        _start_together(procs, go)
        loser = _first_to_exit(procs)  # the refused one exits at once
        holder = procs[1 - procs.index(loser)]
        assert loser.returncode == 1 and holder.poll() is None
        assert _said(loser) == ["HELD", str(holder.pid)]
        assert _said(holder) == ["ACQUIRED", str(holder.pid)]

        here = open_location(store)
        time.sleep(2 * ttl)  # longer than the ttl: the holder has been renewing it
        _assert_held_by(here, holder.pid)
        # On its own host a killed holder is seen dead at once; from another host only its lease's
        # expiry tells. Play the other host: the holder's row now names a host we cannot look at.
        execute(here, "UPDATE leases SET host='another-host' WHERE run_id='the-run'")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        _assert_held_by(here, holder.pid)  # dead, but its lease has not expired yet
        time.sleep(here.lease("the-run").expires_at - time.time() + 0.05)
        here.acquire_lease("the-run", "the next resume", ttl=60)
        assert here.lease("the-run").owner == "the next resume"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _first_to_exit(procs: list[subprocess.Popen]) -> subprocess.Popen:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                return p
        time.sleep(0.01)
    raise AssertionError("neither process was refused the lease")


def _assert_held_by(store, pid: int) -> None:
    try:
        store.acquire_lease("the-run", "intruder", ttl=60)
    except LeaseHeld as exc:
        assert f"pid {pid} on " in str(exc) and "retry after its lease expires at" in str(exc)
    else:
        raise AssertionError("the lease of a live (or not yet expired) holder was taken")

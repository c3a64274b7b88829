"""The SQLite store's durability levels (plait/checkpoints/sqlite.py, DESIGN.md contract 4).

``durability="process"`` (the default, WAL with ``synchronous=NORMAL``): a node is committed
before ``record`` returns, so a SIGKILL right after loses nothing. ``durability="power"`` also
fsyncs every commit (``synchronous=FULL``); power loss itself is not simulated here. The
PostgreSQL store makes the same promise: a node is committed on the server before ``record`` returns.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import plait
from plait.checkpoints.location import open_location

RUN = "run-durability"
ROWS = 5000  # more than the child gets to record before the kill
KILL_AFTER = 300  # commits reported by the child

# Records node after node, printing each counter once record() has returned (so committed).
CHILD = """
import sys
import plait
from plait.checkpoints.location import open_location
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status
from plait.hashing import sha256_hex

path, durability, run, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = open_location(path) if durability == "postgres" else plait.SQLiteStore(path, durability=durability)
store.create_run(RunRecord(run, store.save_plan("{}"), "running", 0.0, 0.0),
                 [(f"item-{k}", f'{{"k": {k}}}'.encode()) for k in range(rows)])
for k in range(rows):
    data = f'{{"value": {k}}}'.encode()
    row = JournalRow(run_id=run, item_id=f"item-{k}", node_id="node", content_key=f"key-{k}",
                     value_hash=sha256_hex(data), status=Status.OK, source=Source.LM)
    store.record(row, data, cache=True, item_status="done")
    print(k, flush=True)
"""


@pytest.mark.parametrize("durability", ["process", "power", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_recorded_node_survives_sigkill_right_after_record(durability, tmp_path, request):
    path = request.getfixturevalue("pg_url") if durability == "postgres" else tmp_path / "runs.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), durability, RUN, str(ROWS)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reported = _read_until(child, KILL_AFTER)
        os.kill(child.pid, signal.SIGKILL)
        # read(), not communicate(): communicate reads the pipe's fd and would skip the lines
        # readline() already pulled into the file object's buffer
        rest, err = child.stdout.read(), child.stderr.read()
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, f"the child ended before the kill:\n{err}"
    reported += [int(line) for line in rest.split()]  # printed before the kill, still in the pipe
    assert reported == list(range(len(reported)))

    store = open_location(path)  # SQLite recovers the WAL the killed process left
    journal = store.journal(RUN)
    missing = [k for k in reported if (f"item-{k}", "node", 0) not in journal]
    assert not missing, f"{len(missing)} of {len(reported)} reported commits lost, first {missing[:5]}"
    # one more row may have committed after the last print; any row present is whole (contract 4)
    assert len(journal) in (len(reported), len(reported) + 1)
    items = {i.item_id: i.status for i in store.run_items(RUN)}
    for (item, _, _), row in journal.items():
        k = int(item.removeprefix("item-"))
        assert row.status == "ok" and store.read_value(row.value_hash) == f'{{"value": {k}}}'.encode()
        assert store.lookup(f"key-{k}") == row.value_hash
        assert items[item] == "done"
    assert sum(status == "done" for status in items.values()) == len(journal)


def _read_until(child: subprocess.Popen, count: int) -> list[int]:
    reported, deadline = [], time.monotonic() + 60
    while len(reported) < count:
        line = child.stdout.readline()
        assert line, f"the child exited after {len(reported)} commits:\n{child.stderr.read()}"
        assert time.monotonic() < deadline
        reported.append(int(line))
    return reported


def _synchronous(store: plait.SQLiteStore) -> int:
    # synchronous is a per-connection setting: only the store's own connection can show it
    return store._conn.execute("PRAGMA synchronous").fetchone()[0]


def test_power_durability_syncs_every_commit_and_the_default_does_not(tmp_path):
    default = plait.SQLiteStore(tmp_path / "default.db")
    process = plait.SQLiteStore(tmp_path / "process.db", durability="process")
    power = plait.SQLiteStore(tmp_path / "power.db", durability="power")
    assert _synchronous(default) == 1  # NORMAL
    assert _synchronous(process) == 1
    assert _synchronous(power) == 2  # FULL
    for name in ("default", "process", "power"):
        conn = sqlite3.connect(tmp_path / f"{name}.db")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def test_an_unknown_durability_is_refused(tmp_path):
    with pytest.raises(ValueError, match="durability must be 'process' or 'power'"):
        plait.SQLiteStore(tmp_path / "runs.db", durability="disk")

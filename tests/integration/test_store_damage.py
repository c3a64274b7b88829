"""Damaged store files raise a StoreError with the fix; nothing is silently read as empty or None.

The store is a real one, written by a real run. Each test damages a copy the way disks, copies and
people damage files (cut in half, a page overwritten, the write-ahead log left behind) and then
reads everything a resume reads.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

import plait
from tests.crash import pipeline_job as job

ITEMS = 150


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A closed store holding one finished run (its WAL checkpointed into the main file), its id and
    the outputs the run returned."""
    path = tmp_path_factory.mktemp("recorded") / "runs.db"
    run = plait.compile(job.Diamond()).run(job.items(ITEMS), ids=job.item_ids(ITEMS), store=str(path),
                                           lm=job.make_lm(latency=0.0), progress=False)
    assert run.status == "done"
    return path, run.id, job.outputs_of(run)


def _copy(recorded, tmp_path):
    path, run_id, _ = recorded
    target = tmp_path / "copy.db"
    shutil.copy(path, target)
    return target, run_id


def _read_everything(path, run_id) -> int:
    """What resume and `plait show` read: the run, its plan, items, inputs, journal and values.
    Returns how many values were read back (none of them None)."""
    store = plait.SQLiteStore(path)
    try:
        record = store.get_run(run_id)
        store.load_plan(record.plan_hash)
        items = store.run_items(run_id)
        assert len(items) == ITEMS, "items silently went missing"
        values = [store.read_value(item.input_hash) for item in items]
        journal = store.journal(run_id)
        assert len(journal) == ITEMS * 5, "journal rows silently went missing"
        for row in journal.values():
            values.append(store.read_value(row.value_hash))
            assert row.source == "output" or store.lookup(row.content_key) is not None
        assert None not in values, "a value was silently read as None"
        return len(values)
    finally:
        store.close()


def _pages_of(path, name: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name=? ORDER BY pageno", (name,))]
    finally:
        conn.close()


def test_the_undamaged_copy_reads_back_whole(recorded, tmp_path):
    path, run_id = _copy(recorded, tmp_path)
    assert _read_everything(path, run_id) == ITEMS + ITEMS * 5  # every input and every node's value
    lm = job.make_lm(latency=0.0)
    resumed = plait.resume(run_id, store=str(path), lm=lm, progress=False)
    assert resumed.status == "done" and resumed.stats.lm_requests == 0
    assert job.outputs_of(resumed) == recorded[2]  # the copy gives back exactly what the run returned


def test_a_store_cut_in_half_is_refused(recorded, tmp_path):
    path, run_id = _copy(recorded, tmp_path)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(plait.StoreError) as err:
        _read_everything(path, run_id)
    assert "the file is damaged" in str(err.value) and "fix: restore the store from a copy" in str(err.value)
    with pytest.raises(plait.StoreError):
        plait.resume(run_id, store=str(path), lm=job.make_lm(), progress=False)


# schema 7: blobs has no index beside it (WITHOUT ROWID); the runs table still has one
@pytest.mark.parametrize("table", ["journal", "blobs", "items", "cache", "sqlite_autoindex_runs_1"])
@pytest.mark.parametrize("damage", ["garbage", "zeros"])
def test_an_overwritten_page_is_detected_when_read(recorded, tmp_path, table, damage):
    path, run_id = _copy(recorded, tmp_path)
    pages = _pages_of(path, table)
    page = pages[len(pages) // 2]
    size = 4096
    junk = bytes((i * 131 + 7) % 256 for i in range(size)) if damage == "garbage" else bytes(size)
    with open(path, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(junk)
    with pytest.raises(plait.StoreError) as err:
        _read_everything(path, run_id)
    assert "damaged" in str(err.value) and "fix:" in str(err.value)


def test_a_store_copied_without_its_write_ahead_log_is_refused(recorded, tmp_path):
    live = tmp_path / "live.db"
    shutil.copy(recorded[0], live)
    store = plait.SQLiteStore(live)  # a process still writing: its last commits are only in -wal
    run = plait.compile(job.Diamond()).run(job.items(20), store=store, lm=job.make_lm(latency=0.0), progress=False)
    copy = tmp_path / "copy.db"
    for suffix in ("", "-shm"):  # -wal forgotten
        shutil.copy(f"{live}{suffix}", f"{copy}{suffix}")
    with pytest.raises(plait.StoreError) as err:
        plait.SQLiteStore(copy)
    message = str(err.value)
    assert f"the write-ahead log {copy}-wal is missing" in message
    assert "copy a store's .db, -wal and -shm files together" in message
    shutil.copy(f"{live}-wal", f"{copy}-wal")  # the first fix: bring the log
    reopened = plait.SQLiteStore(copy)
    assert reopened.get_run(run.id).status == "done"
    reopened.close()
    store.close()


def test_without_the_log_index_either_the_store_is_its_last_checkpoint(recorded, tmp_path):
    # SQLite cannot tell a lost -wal from none when -shm is gone too: the store reads as it was at
    # its last checkpoint, whole and consistent (every run there reads back), never half-written.
    live = tmp_path / "live.db"
    shutil.copy(recorded[0], live)
    store = plait.SQLiteStore(live)
    run = plait.compile(job.Diamond()).run(job.items(20), store=store, lm=job.make_lm(latency=0.0), progress=False)
    copy = tmp_path / "copy.db"
    shutil.copy(live, copy)
    older = plait.SQLiteStore(copy)
    assert [r.run_id for r in older.list_runs()] == [recorded[1]]  # the newer run is not there at all
    older.close()
    _read_everything(copy, recorded[1])
    assert plait.SQLiteStore(live).get_run(run.id).status == "done"
    store.close()

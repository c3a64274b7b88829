"""The store contract, run against every store; and clear errors for files that are not usable."""

import sqlite3

import pytest

import plait
from plait.checkpoints.protocol import JournalRow, RunRecord
from plait.checkpoints.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite"])
def store(request, tmp_path):
    s = SQLiteStore(tmp_path / "s.db")
    yield s
    s.close()


def _row(status="ok", value_hash="h1", key="k1"):
    return JournalRow("r1", "0", "n", 0, key, value_hash, status, "lm")


def _run(store):
    store.create_run(RunRecord("r1", store.save_plan("{}"), "running", 1.0, 1.0), [("0", b'{"q":1}')])


def test_record_then_journal_and_cache(store):
    _run(store)
    store.record(_row(), b'{"a":1}', cache=True, item_status=None)
    assert store.journal("r1")[("0", "n", 0)].value_hash == "h1"
    assert store.lookup("k1") == "h1"


def test_an_ok_row_is_never_overwritten(store):
    _run(store)
    store.record(_row(value_hash="h1"), b"1", cache=False, item_status=None)
    store.record(_row(value_hash="h2"), b"2", cache=False, item_status=None)
    assert store.journal("r1")[("0", "n", 0)].value_hash == "h1"


def test_a_failed_row_is_replaced_by_a_later_success(store):
    _run(store)
    store.record(_row(status="failed", value_hash=None), None, cache=False, item_status="failed")
    store.record(_row(), b"1", cache=True, item_status="done")
    row = store.journal("r1")[("0", "n", 0)]
    assert row.status == "ok" and row.attempts == 2
    assert store.run_items("r1")[0].status == "done"


def test_values_are_checked_against_their_hash(store, tmp_path):
    from plait.hashing import sha256_hex

    _run(store)
    good = sha256_hex(b"1")
    store.record(_row(value_hash=good), b"1", cache=True, item_status=None)
    assert store.read_value(good) == b"1"
    store._conn.execute("UPDATE blobs SET data=? WHERE hash=?", (b"2", good))
    with pytest.raises(plait.StoreError, match="does not match its hash"):
        store.read_value(good)


def test_unknown_run_is_explained(store):
    with pytest.raises(plait.RunNotFound, match="no run 'nope'"):
        store.get_run("nope")


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(plait.StoreError) as err:
        SQLiteStore(path)
    assert "cannot open the checkpoint store" in str(err.value) and "fix:" in str(err.value)


def test_another_apps_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(plait.StoreError, match="is an SQLite database but not a plait store"):
        SQLiteStore(path)


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    with pytest.raises(plait.StoreError) as err:
        SQLiteStore(path)
    assert "written by a newer plait (store schema 99)" in str(err.value)


def test_the_store_uses_wal(tmp_path):
    s = SQLiteStore(tmp_path / "w.db")
    assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

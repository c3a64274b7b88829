"""Store files plait did not just create: older schemas are migrated in place, missing or empty
files are refused when a store must already exist, and nothing unusable is read as empty."""

import sqlite3

import pytest

import plait
from plait.checkpoints import sqlite_schema
from plait.checkpoints.sqlite import SCHEMA_VERSION, SQLiteStore

# A version-1 store as plait 0.1.0 wrote it (plait/checkpoints/sqlite.py at schema 1).
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE plans (plan_hash TEXT PRIMARY KEY, plan_json TEXT NOT NULL);
CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, plan_hash TEXT NOT NULL, parent_run TEXT, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, config TEXT NOT NULL);
CREATE TABLE items (
    run_id TEXT NOT NULL, item_id TEXT NOT NULL, position INTEGER NOT NULL, input_hash TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, PRIMARY KEY (run_id, item_id));
CREATE TABLE journal (
    run_id TEXT NOT NULL, item_id TEXT NOT NULL, node_id TEXT NOT NULL, iteration INTEGER NOT NULL,
    content_key TEXT NOT NULL, value_hash TEXT, status TEXT NOT NULL, source TEXT NOT NULL,
    error TEXT, lm TEXT, usage TEXT, attempts INTEGER NOT NULL, recorded_at REAL NOT NULL,
    PRIMARY KEY (run_id, item_id, node_id, iteration));
CREATE TABLE cache (content_key TEXT PRIMARY KEY, value_hash TEXT NOT NULL);
INSERT INTO meta VALUES ('app', 'plait'), ('schema_version', '1');
INSERT INTO plans VALUES ('p1', '{}');
INSERT INTO blobs VALUES ('b1', X'7B7D');
INSERT INTO runs VALUES ('r1', 'p1', NULL, 'done', 1.0, 2.0, '{}');
INSERT INTO items VALUES ('r1', '0', 0, 'b1', 'done', NULL);
INSERT INTO journal VALUES ('r1', '0', 'n', 0, 'k1', 'b1', 'ok', 'lm', NULL, NULL, NULL, 1, 1.0);
INSERT INTO cache VALUES ('k1', 'b1');
"""


def _v1_store(path):
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.commit()
    conn.close()


def test_a_version_1_store_is_migrated_in_place_and_keeps_its_runs(tmp_path):
    path = tmp_path / "v1.db"
    _v1_store(path)
    store = SQLiteStore(path)
    assert SCHEMA_VERSION == 8
    assert store._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("8",)
    assert store.get_run("r1").status == "done" and store.load_plan("p1") == "{}"
    old = store.journal("r1")[("0", "n", 0)]
    assert old.value_hash == "b1" and store.lookup("k1") == "b1"
    assert old.replay_key is None  # an old row has no replay key: it replays by its content key
    store.acquire_lease("r1", "me", ttl=60)  # the new table works
    store.save_plan('{"again": 1}')  # and the new plans column
    store.close()
    SQLiteStore(path).close()  # opening a migrated store again is a no-op


def test_an_older_plait_reading_a_migrated_store_is_told_why(tmp_path, monkeypatch):
    path = tmp_path / "v1.db"
    _v1_store(path)
    SQLiteStore(path).close()
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", 1)  # plait 0.1.0's check, the same code
    with pytest.raises(plait.StoreError, match=r"written by a newer plait \(store schema 8\)"):
        SQLiteStore(path)


def test_a_store_that_must_exist_is_not_created(tmp_path):
    missing = tmp_path / "typo.db"
    with pytest.raises(plait.StoreError) as err:
        SQLiteStore(missing, create=False)
    assert f"no plait store at {missing}" in str(err.value) and "--store" in str(err.value)
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(plait.StoreError, match="is empty, not a plait store"):
        SQLiteStore(empty, create=False)
    SQLiteStore(tmp_path / "new.db").close()
    SQLiteStore(tmp_path / "new.db", create=False).close()


def test_a_meta_table_with_garbage_is_refused(tmp_path):
    path = tmp_path / "odd.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE meta (key TEXT, value TEXT);"
                       "INSERT INTO meta VALUES ('app', 'plait'), ('schema_version', 'two');")
    conn.close()
    with pytest.raises(plait.StoreError, match="has an invalid schema version"):
        SQLiteStore(path)


def test_a_store_locked_too_long_says_so(tmp_path):
    path = tmp_path / "locked.db"
    SQLiteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    store = SQLiteStore(path, timeout=0.1)
    with pytest.raises(plait.StoreError) as err:
        store.save_plan("{}")
    assert "another process kept it locked too long" in str(err.value) and "timeout=" in str(err.value)
    holder.execute("ROLLBACK")
    store.save_plan("{}")

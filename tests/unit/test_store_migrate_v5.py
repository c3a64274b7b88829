"""Store schema 5 (plait/checkpoints/sqlite_schema.py): a version-4 store is rebuilt in place, its
journal and cache WITHOUT ROWID, every row and column kept; the store is then smaller."""

from __future__ import annotations

import sqlite3

import plait
from plait.checkpoints import sqlite_schema
from plait.checkpoints.sqlite import SQLiteStore
from plait.checkpoints.versions import statements
from plait.hashing import sha256_hex
from tests.programs import Chain4


H = sha256_hex(b"{}")  # the one value's hash


def version_4_store(path) -> None:
    """A store as plait wrote it at schema 4: the first schema and the migrations 1 to 3, and rows."""
    conn = sqlite3.connect(path)
    for stmt in statements(sqlite_schema._V1) + [s for v in (1, 2, 3) for s in statements(sqlite_schema.MIGRATIONS[v])]:
        conn.execute(stmt)
    conn.executescript(f"""
        INSERT INTO meta VALUES ('app', 'plait'), ('schema_version', '4');
        INSERT INTO plans VALUES ('p1', '{{}}', 1.0);
        INSERT INTO blobs VALUES ('{H}', X'7B7D');
        INSERT INTO runs VALUES ('r1', 'p1', NULL, 'done', 1.0, 2.0, '{{}}');
        INSERT INTO items VALUES ('r1', '0', 0, '{H}', 'done', NULL);
        INSERT INTO journal VALUES ('r1', '0', 'n', 0, 'k1', '{H}', 'ok', 'lm', NULL, 'scripted',
                                    '{{"prompt_tokens": 3}}', 2, 1.0, 'replay-1');
        INSERT INTO cache VALUES ('k1', '{H}');
    """)
    conn.commit()
    conn.close()


def layouts(path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type='table'"))
    finally:
        conn.close()


def test_a_version_4_store_is_rebuilt_without_rowid_and_keeps_every_row(tmp_path):
    path = tmp_path / "v4.db"
    version_4_store(path)
    assert not any("WITHOUT ROWID" in sql for sql in layouts(path).values())
    store = SQLiteStore(path, create=False)
    try:
        assert store._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(sqlite_schema.SCHEMA_VERSION),)
        row = store.journal("r1")[("0", "n", 0)]
        assert (row.value_hash, row.content_key, row.replay_key, row.lm, row.attempts) == (H, "k1", "replay-1",
                                                                                          "scripted", 2)
        assert row.usage == {"prompt_tokens": 3} and store.lookup("k1") == H and store.read_value(H) == b"{}"
        assert sqlite_schema.columns(store._conn) == sqlite_schema.expected_columns()
        assert store._conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        store.close()
    tables = layouts(path)
    assert all(tables[t].endswith("WITHOUT ROWID") for t in sqlite_schema.WITHOUT_ROWID)
    assert not any(name.endswith("_v4") for name in tables)
    SQLiteStore(path, create=False).close()  # opening a migrated store again changes nothing
    assert layouts(path) == tables


def test_a_migrated_store_runs_and_resumes_like_a_new_one(tmp_path):
    path = tmp_path / "v4.db"
    version_4_store(path)
    lm = plait.ScriptedLM(lambda task: {f: f"{f}:{task.inputs}" for f in task.output_fields})
    run = plait.compile(Chain4()).run([{"question": "q"}], store=str(path), lm=lm, progress=False)
    again = plait.resume(run.id, store=str(path), lm=lm, progress=False)
    assert run.status == again.status == "done" and lm.calls == 4
    assert again.items[0].outputs == run.items[0].outputs

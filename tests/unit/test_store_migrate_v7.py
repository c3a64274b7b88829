"""Store schema 7 (SQLite) and 3 (PostgreSQL): hashes and keys stored as their 32 bytes, usage
compact (plait/checkpoints/layout.py). A store written at the previous schema by the old statements
is converted in place, in one transaction, and reads back exactly as before: every run's journal,
items, cache, values, sums and checks; a run resumes in it without an LM call."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

import plait
from plait.checkpoints import postgres_schema, sqlite_schema, versions
from plait.checkpoints.keys import failure_key
from plait.checkpoints.layout import key_bytes, key_text, usage_dict, usage_text
from plait.checkpoints.location import open_location
from plait.checkpoints.sqlite import SQLiteStore
from plait.hashing import sha256_hex
from tests.programs import Diamond, echo_answer
from tests.stores import execute, run_id_rows

HASH_COLUMNS = {"hash", "input_hash", "content_key", "value_hash", "replay_key"}
TABLES = ("plans", "blobs", "runs", "items", "journal", "cache", "asks")
HEX = sha256_hex(b"x")
ODD_KEYS = ["", "k1", "b1", HEX, failure_key(HEX), "0" * 64, "0" * 64 + ":failed", HEX.upper(),
            "a key someone wrote by hand, longer than 32 bytes", "é" * 20, HEX[:63]]


@pytest.mark.parametrize("key", ODD_KEYS + [None])
def test_every_key_is_stored_as_bytes_and_reads_back_the_same(key):
    stored = key_bytes(key)
    assert key_text(stored) == key and key_text(memoryview(stored) if stored is not None else None) == key
    if key is not None and key[:64] == HEX:
        assert stored[:32] == bytes.fromhex(HEX) and len(stored) == 32 + len(key) - 64  # half the text


@given(st.text())
def test_any_text_key_round_trips(key):
    assert key_text(key_bytes(key)) == key


@given(st.fixed_dictionaries({"prompt_tokens": st.integers(0, 10**12), "completion_tokens": st.integers(0, 10**12),
                              "cost": st.none() | st.floats(allow_nan=False)}))
def test_usage_of_the_usual_shape_is_a_few_bytes_and_reads_back_the_same(usage):
    text = usage_text(usage)
    assert usage_dict(text) == usage and len(text) < len(json.dumps(usage))


@pytest.mark.parametrize("usage", [None, {"prompt_tokens": 3}, {"prompt_tokens": 1, "completion_tokens": 2, "cost": 1},
                                   {"prompt_tokens": True, "completion_tokens": 0, "cost": None}, {"other": [1]}])
def test_usage_of_another_shape_is_kept_as_json(usage):
    assert usage_dict(usage_text(usage)) == usage
    assert usage is None or usage_text(usage) == json.dumps(usage)



def old_schema_file(path: str, version: int) -> sqlite3.Connection:
    """An empty store file at schema ``version``, built as plait built it then: the first schema,
    then migrations 1 to ``version`` - 1."""
    old = sqlite3.connect(path)
    for stmt in versions.statements(sqlite_schema._V1):
        old.execute(stmt)
    for v in range(1, version):
        versions.apply(old, sqlite_schema.MIGRATIONS[v])
    old.execute("INSERT INTO meta VALUES ('app', 'plait'), ('schema_version', ?)", (str(version),))
    return old

def _as_version_6(v7: str, v6: str) -> None:
    """Write ``v7``'s rows into a new file built by the schema-6 statements (the first schema and
    migrations 1 to 5), each hash as its hex text and usage as its JSON, as plait wrote them then."""
    old = old_schema_file(v6, 6)
    new = sqlite3.connect(v7)
    for table in TABLES:
        names, rows = run_id_rows(new, table)  # schema 8's run numbers back to run ids
        rows = [[_as_text(name, value) for name, value in zip(names, row)] for row in rows]
        old.executemany(f"INSERT INTO {table} ({','.join(names)}) VALUES ({','.join('?' * len(names))})", rows)
    old.commit()
    old.close()
    new.close()


def _as_text(column: str, value):
    if column in HASH_COLUMNS:
        return key_text(value)
    return json.dumps(usage_dict(value)) if column == "usage" and value is not None else value


def _everything(store, run_ids) -> dict:
    """What every read of the store protocol returns for these runs."""
    found = {}
    for run_id in run_ids:
        journal = store.journal(run_id)
        hashes = [r.value_hash for r in journal.values() if r.value_hash] + [i.input_hash for i in store.run_items(run_id)]
        found[run_id] = (store.get_run(run_id), journal, store.run_items(run_id), store.read_values(hashes),
                         {r.content_key: store.lookup(r.content_key) for r in journal.values()},
                         sorted(store.journal_summary(run_id)), store.key_requests([r.content_key for r in journal.values()]),
                         store.asks(run_id))
    return found


def test_a_version_6_store_is_converted_and_reads_back_every_run(tmp_path):
    v7, v6 = str(tmp_path / "new.db"), str(tmp_path / "old.db")
    lm = plait.ScriptedLM(echo_answer)
    compiled = plait.compile(Diamond())
    first = compiled.run([{"question": f"q{i}"} for i in range(40)], store=v7, lm=lm, progress=False)
    second = compiled.run([{"question": f"q{i}"} for i in range(30, 50)], store=v7, lm=lm, progress=False)
    store = SQLiteStore(v7, create=False)
    before = _everything(store, [first.id, second.id])
    store.close()
    _as_version_6(v7, v6)
    assert "TEXT" in dict(sqlite3.connect(v6).execute("SELECT name, type FROM pragma_table_info('cache')"))["content_key"]
    old_size = _vacuumed_size(v6)

    migrated = SQLiteStore(v6, create=False)
    try:
        assert migrated._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            str(sqlite_schema.SCHEMA_VERSION),)
        assert _everything(migrated, [first.id, second.id]) == before
        assert sqlite_schema.columns(migrated._conn) == sqlite_schema.expected_columns()
        assert migrated.check(full=True).ok
        assert not [t for (t,) in migrated._conn.execute("SELECT name FROM sqlite_master") if t.endswith("_old")]
        assert migrated.collect_garbage(dry_run=True).values == 0  # every value is still found referenced
    finally:
        migrated.close()
    assert _vacuumed_size(v6) < 0.7 * old_size
    calls = lm.calls
    again = plait.resume(first.id, store=v6, lm=lm, progress=False)
    assert lm.calls == calls and [i.outputs for i in again.items] == [i.outputs for i in first.items]


def _vacuumed_size(path: str) -> int:
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    (pages,), (size,) = conn.execute("PRAGMA page_count").fetchone(), conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    return pages * size


def test_hand_written_version_6_rows_keep_their_keys(tmp_path):
    path = tmp_path / "v6.db"
    conn = sqlite3.connect(path)
    for stmt in versions.statements(sqlite_schema._V1):
        conn.execute(stmt)
    for v in range(1, 6):
        versions.apply(conn, sqlite_schema.MIGRATIONS[v])
    conn.execute("INSERT INTO meta VALUES ('app', 'plait'), ('schema_version', '6')")
    conn.execute("INSERT INTO blobs VALUES (?, X'7B7D')", (sha256_hex(b"{}"),))
    for key in ODD_KEYS:
        conn.execute("INSERT INTO cache VALUES (?, ?)", (key, sha256_hex(b"{}")))
    conn.commit()
    conn.close()
    store = SQLiteStore(path, create=False)
    try:
        assert {k: store.lookup(k) for k in ODD_KEYS} == {k: sha256_hex(b"{}") for k in ODD_KEYS}
        assert store.read_value(sha256_hex(b"{}")) == b"{}"
    finally:
        store.close()


@pytest.mark.postgres
def test_a_version_2_postgres_store_is_converted_and_keeps_its_keys(pg_url, monkeypatch):
    value = sha256_hex(b"{}")
    with monkeypatch.context() as old:
        old.setattr(postgres_schema, "SCHEMA_VERSION", 2)  # the plait before bytes
        old.setattr(postgres_schema, "MIGRATIONS", {1: postgres_schema.MIGRATIONS[1]})
        store = open_location(pg_url)
        execute(store, "INSERT INTO plans VALUES (?, '{}', 1.0)", sha256_hex("{}"))
        execute(store, "INSERT INTO runs VALUES ('r1', ?, NULL, 'done', 1.0, 2.0, '{}')", sha256_hex("{}"))
        execute(store, "INSERT INTO blobs VALUES (?, ?)", value, b"{}")
        execute(store, "INSERT INTO items VALUES ('r1', '0', 0, ?, 'done', NULL)", value)
        for n, key in enumerate(ODD_KEYS):
            execute(store, "INSERT INTO cache VALUES (?, ?)", key, value)
            execute(store, "INSERT INTO journal (run_id, item_id, node_id, iteration, content_key, value_hash, status,"
                           " source, error, lm, usage, attempts, recorded_at, replay_key) VALUES"
                           " ('r1', '0', ?, 0, ?, ?, 'ok', 'lm', NULL, 'm', ?, 1, 1.0, ?)",
                    f"n{n}", key, value, '{"prompt_tokens": 3, "completion_tokens": 1, "cost": null}', key or None)
        store.close()
    store = open_location(pg_url)
    try:
        assert execute(store, "SELECT value FROM meta WHERE key='schema_version'") == [
            (str(postgres_schema.SCHEMA_VERSION),)]
        assert {k: store.lookup(k) for k in ODD_KEYS} == {k: value for k in ODD_KEYS}
        journal = store.journal("r1")
        assert [(r.content_key, r.value_hash, r.replay_key, r.usage) for r in
                (journal[("0", f"n{n}", 0)] for n in range(len(ODD_KEYS)))] == [
            (k, value, k or None, {"prompt_tokens": 3, "completion_tokens": 1, "cost": None}) for k in ODD_KEYS]
        assert store.run_items("r1")[0].input_hash == value and store.read_values([value]) == {value: b"{}"}
        assert execute(store, "SELECT octet_length(hash) FROM blobs") == [(32,)] and store.check().ok
    finally:
        store.close()

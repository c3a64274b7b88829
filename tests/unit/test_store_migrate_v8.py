"""Store schema 8 (SQLite) and 4 (PostgreSQL): journal and items keyed by the run's number, not by
its id's text (plait/checkpoints/run_numbers.py). A store written at the previous schema is
converted in place, in one transaction: every run reads back exactly as before through every read
of the store protocol, rows of a run that no longer exists are kept under a negative number, and a
run made afterwards gets a number no run had."""

from __future__ import annotations

import json
import sqlite3

import pytest

import plait
from plait.checkpoints import postgres_schema, sqlite_schema
from plait.checkpoints.check import check_store
from plait.checkpoints.layout import key_bytes
from plait.checkpoints.location import open_location
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status
from plait.checkpoints.sqlite import SQLiteStore
from plait.checkpoints.transfer import copy_runs
from plait.errors import RunNotFound
from plait.hashing import sha256_hex
from tests.programs import Diamond, echo_answer
from tests.stores import execute, run_id_rows
from tests.unit.test_store_migrate_v7 import TABLES, _everything, _vacuumed_size, old_schema_file

GONE = "a-run-gc-deleted-by-hand"


def _as_version_7(v8: str, v7: str) -> None:
    """Write ``v8``'s rows into a new file built by the schema-7 statements (the first schema and
    migrations 1 to 6), each row naming its run by id, as plait wrote them then; plus leftovers of a
    run whose runs row is gone (what `plait check` reports)."""
    old = old_schema_file(v7, 7)
    new = sqlite3.connect(v8)
    for table in TABLES:
        names, rows = run_id_rows(new, table)
        old.executemany(f"INSERT INTO {table} ({','.join(names)}) VALUES ({','.join('?' * len(names))})", rows)
    (hash_,) = old.execute("SELECT hash FROM blobs LIMIT 1").fetchone()
    old.execute("INSERT INTO items VALUES (?, 'x', 0, ?, 'done', NULL)", (GONE, hash_))
    old.execute("INSERT INTO journal (run_id, item_id, node_id, iteration, content_key, status, source, attempts,"
                " recorded_at) VALUES (?, 'y', 'n', 0, X'01', 'failed', 'lm', 1, 1.0)", (GONE,))
    old.commit()
    old.close()
    new.close()


def _runs(path: str):
    """Two runs and a fork of the first into ``path``; their ids and the LM that answered them."""
    lm = plait.ScriptedLM(echo_answer)
    compiled = plait.compile(Diamond())
    first = compiled.run([{"question": f"q{i}"} for i in range(30)], store=path, lm=lm, progress=False)
    second = compiled.run([{"question": f"q{i}"} for i in range(20, 40)], store=path, lm=lm, progress=False)
    fork = plait.rerun(first.id, from_node="diamond.final", store=path, lm=lm, progress=False)
    return [first.id, second.id, fork.id], lm, first


def test_a_version_7_store_is_numbered_and_reads_back_every_run(tmp_path):
    v8, v7 = str(tmp_path / "new.db"), str(tmp_path / "old.db")
    run_ids, lm, first = _runs(v8)
    store = SQLiteStore(v8, create=False)
    before = (_everything(store, run_ids), store.spending(), store.item_counts(), store.list_runs())
    store.close()
    _as_version_7(v8, v7)
    old_size = _vacuumed_size(v7)
    unmigrated = check_store(v7)  # reads only: its references wait for the layout they are written for
    assert unmigrated.ok and unmigrated.checked[2].startswith("references: checked once the store is migrated")
    assert "older than 8" in unmigrated.checked[1]

    migrated = SQLiteStore(v7, create=False)
    try:
        conn = migrated._conn
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("8",)
        after = (_everything(migrated, run_ids), migrated.spending(), migrated.item_counts(), migrated.list_runs())
        assert after == before
        assert sqlite_schema.columns(conn) == sqlite_schema.expected_columns()
        assert not [t for (t,) in conn.execute("SELECT name FROM sqlite_master") if t.endswith("_old")]
        numbers = [n for (n,) in conn.execute("SELECT run_no FROM runs ORDER BY created_at")]
        assert numbers == [1, 2, 3]  # oldest first
        assert conn.execute("SELECT DISTINCT run_no FROM items WHERE item_id='x'").fetchall() == [(-1,)]
        _leftovers_are_reported_and_their_fix_clears_them(migrated, v7)
    finally:
        migrated.close()
    assert _vacuumed_size(v7) < old_size
    calls = lm.calls
    again = plait.resume(first.id, store=v7, lm=lm, progress=False)
    assert lm.calls == calls and [i.outputs for i in again.items] == [i.outputs for i in first.items]
    later = plait.compile(Diamond()).run([{"question": "new"}], store=v7, lm=lm, progress=False)
    with sqlite3.connect(v7) as conn:
        assert conn.execute("SELECT run_no FROM runs WHERE run_id=?", (later.id,)).fetchone() == (4,)


def _leftovers_are_reported_and_their_fix_clears_them(store: SQLiteStore, path: str) -> None:
    problems = {p.where: p for p in store.check().problems}
    assert set(problems) == {"journal (run -1, item y)", "items (run number -1)"}
    assert problems["items (run number -1)"].what == "items of a run that is not in the runs table"
    for problem in problems.values():
        store._conn.execute(json.loads(problem.fix.split(f"sqlite3 {path} ")[1]))  # the fix, run
    assert store.check().ok


def test_a_deleted_run_number_is_never_given_again_and_a_missing_run_is_named(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    try:
        for run_id in ("r1", "r2"):
            store.create_run(RunRecord(run_id, store.save_plan("{}"), "done", 1.0, 1.0), [("0", b"{}")])
        assert store.journal("r2") == {} and store._run_no("r2") == 2
        store.collect_garbage(["r2"])
        store.create_run(RunRecord("r2", store.save_plan("{}"), "done", 1.0, 1.0), [("0", b"{}")])
        assert store._run_no("r2") == 3 and [i.item_id for i in store.run_items("r2")] == ["0"]
        row = JournalRow(run_id="nope", item_id="0", node_id="n", status=Status.OK, source=Source.STEP)
        with pytest.raises(RunNotFound) as err:
            store.record(row, None, cache=False, item_status="done")
        assert err.value.node == "n" and "no run 'nope'" in str(err.value) and "plait runs" in err.value.fix
        assert store.journal("nope") == {} and store.run_items("nope") == [] and store.journal_summary("nope") == []
    finally:
        store.close()


@pytest.mark.postgres
def test_a_version_3_postgres_store_is_numbered_and_keeps_every_row(pg_url, new_store_url, monkeypatch):
    value = sha256_hex(b"{}")
    with monkeypatch.context() as old:
        old.setattr(postgres_schema, "SCHEMA_VERSION", 3)  # the plait before run numbers
        old.setattr(postgres_schema, "MIGRATIONS", {v: postgres_schema.MIGRATIONS[v] for v in (1, 2)})
        store = open_location(pg_url)
        plan = store.save_plan("{}")
        execute(store, "INSERT INTO blobs VALUES (?, ?)", key_bytes(value), b"{}")
        for n, run_id in enumerate(("r1", "r2", GONE)):
            if run_id != GONE:
                execute(store, "INSERT INTO runs VALUES (?, ?, NULL, 'done', ?, 2.0, '{}')", run_id, plan, float(n))
            execute(store, "INSERT INTO items VALUES (?, '0', 0, ?, 'done', NULL)", run_id, key_bytes(value))
            execute(store, "INSERT INTO journal (run_id, item_id, node_id, iteration, content_key, value_hash, status,"
                           " source, attempts, recorded_at, requests, answered) VALUES"
                           " (?, '0', 'n', 0, ?, ?, 'ok', 'lm', 1, 1.0, ?, ?)", run_id, key_bytes(f"k{n}"),
                    key_bytes(value), n + 1, n + 1)
        store.close()
    store = open_location(pg_url)
    try:
        assert execute(store, "SELECT value FROM meta WHERE key='schema_version'") == [("4",)]
        assert store.journal("r2")[("0", "n", 0)].content_key == "k1" and store.run_items("r1")[0].input_hash == value
        assert {r: s.requests for r, s in store.spending().items()} == {"r1": 1, "r2": 2}
        assert store.item_counts() == {"r1": {"done": 1}, "r2": {"done": 1}}
        assert execute(store, "SELECT run_no FROM items WHERE run_no < 0") == [(-1,)]
        assert [p.where for p in store.check().problems] == ["items (run number -1)"]  # its journal has its item
        store.create_run(RunRecord("r3", store.save_plan("{}"), "running", 3.0, 3.0, "r1"), [("0", b"{}")])
        assert store._run_no("r3") > max(store._run_no("r1"), store._run_no("r2"))
        assert store.copy_journal("r1", "r3", {"n"}) == 1 and store.journal("r3")[("0", "n", 0)].content_key == "k0"
        other = open_location(new_store_url())
        try:
            copy_runs(store, other, ["r2", "r3"])
            assert other.journal("r3") == store.journal("r3") and other.run_items("r2") == store.run_items("r2")
        finally:
            other.close()
    finally:
        store.close()

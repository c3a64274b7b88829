"""The writer's batches in few statements (plait/checkpoints/batch_rows.py), on real SQLite: rows
cut into chunks in order; a many-row INSERT leaves the tables as one statement per row did, ON
CONFLICT rows within one statement included; each item keeps the status its last record gave."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from plait.checkpoints.batch_rows import CHUNKS, Insert, chunks, insert_chunked, set_item_statuses
from plait.checkpoints.group import Record
from plait.checkpoints.protocol import JournalRow, Source, Status

UPSERT = Insert("INSERT INTO t (k, v, n) VALUES", 3,
                "ON CONFLICT (k) DO UPDATE SET v=excluded.v, n=t.n + excluded.n WHERE t.v != 'final'")


def _table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT, n INTEGER) WITHOUT ROWID")
    return conn


def test_chunks_keep_the_rows_in_order_in_few_sizes():
    rows = list(range(107))
    pieces = list(chunks(rows))
    assert [x for piece in pieces for x in piece] == rows
    assert [len(p) for p in pieces] == [32, 32, 32, 8, 2, 1] and all(len(p) in CHUNKS for p in pieces)
    assert list(chunks([])) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from(["x", "y", "final"]), st.integers(0, 9)),
                max_size=80))
def test_a_many_row_insert_leaves_the_table_as_one_row_per_statement(rows):
    together, one_by_one = _table(), _table()
    insert_chunked(together, UPSERT, rows)
    one_by_one.executemany(UPSERT.one, rows)
    assert together.execute("SELECT * FROM t ORDER BY k").fetchall() == \
        one_by_one.execute("SELECT * FROM t ORDER BY k").fetchall()


def _record(item: str, status: str | None, error: str | None = None) -> Record:
    row = JournalRow(run_id="r", item_id=item, node_id="n", status=Status.FAILED if error else Status.OK,
                     source=Source.LM, error=error)
    return Record(row, None, False, status)


def test_each_item_keeps_the_status_of_its_last_record():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE items (run_no INTEGER, item_id TEXT, status TEXT, error TEXT)")
    conn.executemany("INSERT INTO items VALUES (7, ?, 'pending', NULL)", [(str(i),) for i in range(40)])
    records = [_record(str(i), "done") for i in range(35)] + [
        _record("36", "failed", "first branch"), _record("36", "failed", "second branch"), _record("37", None),
        _record("38", "failed", "it broke")]
    set_item_statuses(conn, records, {"r": 7})
    rows = {i: (s, e) for i, s, e in conn.execute("SELECT item_id, status, error FROM items")}
    assert all(rows[str(i)] == ("done", None) for i in range(35))
    assert rows["36"] == ("failed", "second branch") and rows["38"] == ("failed", "it broke")
    assert rows["37"] == rows["39"] == ("pending", None)

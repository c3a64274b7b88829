"""The rows of a batch of records (group.py), as the store's writer thread writes them: its values,
journal rows, cache entries and item statuses, in few statements.

Why few: sqlite3's ``executemany`` steps once per row and lets go of the interpreter's lock (the
GIL) around each step, so the writer thread had to take the lock back from the event loop's
thread once per row, ~110 times for a batch of 35 records, each time waiting while the loop ran
Python; the nodes waiting for the commit waited as long (a commit's median: 1.4 ms, now 0.9). In
SQLite an INSERT with many VALUES rows steps once, and inserts its rows in their order, each
meeting ON CONFLICT as it would alone: the tables end as they did with one row per statement.
PostgreSQL keeps ``executemany``, which its driver already sends as one pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator, Sequence

from plait.checkpoints.group import Record
from plait.checkpoints.keys import failure_key
from plait.checkpoints.layout import key_bytes, usage_text
from plait.checkpoints.protocol import JournalRow
from plait.checkpoints.transfer import JOURNAL_COLUMNS

# Rows per statement: a handful of statement texts, each prepared once and kept in sqlite3's
# statement cache; 32 rows of the journal's 19 columns stay under SQLite's oldest limit of 999 parameters.
CHUNKS = (32, 16, 8, 4, 2, 1)


@dataclass(frozen=True)
class Insert:
    """An INSERT of ``width`` columns, written for any number of rows: ``into`` is the statement up
    to its VALUES, ``then`` what follows its rows (an ON CONFLICT clause). ``one``: for one row."""

    into: str
    width: int
    then: str = ""

    @property
    def one(self) -> str:
        return insert_sql(self, 1)


@lru_cache(maxsize=None)
def insert_sql(insert: Insert, rows: int) -> str:
    """``insert`` for ``rows`` rows (made once per size: CHUNKS' few sizes)."""
    row = f"({','.join('?' * insert.width)})"
    return f"{insert.into} {','.join([row] * rows)} {insert.then}"


# A step's rows add up what they spent (spend.py): a 'retrying' row's requests stay counted.
ADD_SPEND = ", ".join([f"{c}=journal.{c} + excluded.{c}" for c in ("requests", "answered", "prompt_tokens",
                                                                    "completion_tokens")]
                      + ["cost=COALESCE(journal.cost + excluded.cost, journal.cost, excluded.cost)"])
# A node output recorded 'ok' is final: a second write of the same journal key never changes it.
RECORD = Insert(f"INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES", 19, f"""
ON CONFLICT (run_no, item_id, node_id, iteration) DO UPDATE SET
    content_key=excluded.content_key, value_hash=excluded.value_hash, status=excluded.status,
    source=excluded.source, error=excluded.error, lm=excluded.lm, usage=excluded.usage,
    attempts=journal.attempts + excluded.attempts, recorded_at=excluded.recorded_at,
    replay_key=excluded.replay_key, {ADD_SPEND}
WHERE journal.status != 'ok'""")
PUT_VALUE = Insert("INSERT INTO blobs (hash, data) VALUES", 2, "ON CONFLICT DO NOTHING")
CACHE = Insert("INSERT INTO cache (content_key, value_hash) VALUES", 2, "ON CONFLICT DO NOTHING")
REMEMBER_FAILURE = Insert("INSERT INTO cache (content_key, value_hash) VALUES", 2,
                          "ON CONFLICT (content_key) DO UPDATE SET value_hash=excluded.value_hash")


def chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """``rows`` in order, cut into pieces of CHUNKS' sizes, the largest first."""
    start = 0
    while start < len(rows):
        size = next(c for c in CHUNKS if c <= len(rows) - start)
        yield rows[start:start + size]
        start += size


def insert_chunked(tx: Any, insert: Insert, rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` by ``insert``, in order, one statement per chunk (SQLite's writer: see the docstring)."""
    for chunk in chunks(rows):
        tx.execute(insert_sql(insert, len(chunk)), [value for row in chunk for value in row])


def record_args(row: JournalRow, number: int, now: float) -> tuple:
    """RECORD's parameters for ``row`` of the run numbered ``number``, recorded at ``now``."""
    spent = row.spent  # its fields by name: dataclasses.astuple deep-copies each one
    return (number, row.item_id, row.node_id, row.iteration, key_bytes(row.content_key), key_bytes(row.value_hash),
            row.status, row.source, row.error, row.lm, usage_text(row.usage), row.attempts, now,
            key_bytes(row.replay_key), spent.requests, spent.answered, spent.prompt_tokens, spent.completion_tokens,
            spent.cost)


def cache_rows(records: Sequence[Record]) -> tuple[list[tuple], list[tuple]]:
    """The batch's cache entries: a reusable step's value, and a parse failure under its derived key."""
    cached, failures = [], []
    for r in records:
        if r.cache and r.row.status == "ok":
            cached.append((key_bytes(r.row.content_key), key_bytes(r.row.value_hash)))
        elif r.cache and r.row.status == "failed" and r.row.value_hash:
            failures.append((key_bytes(failure_key(r.row.content_key)), key_bytes(r.row.value_hash)))
    return cached, failures


def set_item_statuses(tx: Any, records: Sequence[Record], numbers: dict[str, int]) -> None:
    """The batch's item statuses: each item's last (as the rows' UPDATEs one by one, in order, left
    it), one UPDATE per status, error and run for a chunk of its items."""
    last: dict[tuple[int, str], tuple[str, str | None]] = {}
    for r in records:
        if r.item_status is not None:
            error = r.row.error if r.item_status == "failed" else None
            last[(numbers[r.row.run_id], r.row.item_id)] = (r.item_status, error)
    groups: dict[tuple[str, str | None, int], list[str]] = {}
    for (number, item_id), (status, error) in last.items():
        groups.setdefault((status, error, number), []).append(item_id)
    for (status, error, number), item_ids in groups.items():
        for chunk in chunks(item_ids):
            tx.execute(f"UPDATE items SET status=?, error=? WHERE run_no=? AND item_id IN ({','.join('?' * len(chunk))})",
                       (status, error, number, *chunk))

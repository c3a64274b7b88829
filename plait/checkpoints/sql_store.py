"""Every Store method, written once in the SQL that SQLite and PostgreSQL both run.

The two stores have the same tables, columns and meaning; only the connection differs. A subclass
supplies it: ``_transact(work)`` runs ``work(tx)`` in one write transaction (``tx.execute(sql,
args)`` returns a cursor; ``?`` marks a parameter in both dialects), ``_query(sql, args)`` reads
rows, and two hooks make leases hold: ``_lock_run`` serializes lease decisions about one run (SQLite
takes its one write lock up front, so nothing more is needed there) and ``_clock`` is the time
leases are judged by (PostgreSQL uses the server's, shared by every machine).

Methods take and return run ids; journal and items rows hold the run's number instead, which
``_run_no`` looks up (run_numbers.py). The lease methods are in stored_leases.py, the asks' in asks.py.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any, Callable, Iterator, Sequence, TypeVar

from plait.checkpoints.asks import StoredAsks
from plait.checkpoints.batch_rows import (CACHE, PUT_VALUE, RECORD, REMEMBER_FAILURE, Insert, cache_rows, record_args,
                                          set_item_statuses)
from plait.checkpoints.group import GroupWriter, Record
from plait.checkpoints.layout import key_bytes, key_text, usage_dict
from plait.checkpoints.lease import is_active, lease_held
from plait.checkpoints.run_numbers import RunNumbers, missing_run
from plait.checkpoints.spend import Spend
from plait.checkpoints.replay_reads import ReplayReads
from plait.checkpoints.stored_leases import StoredLeases, lease_row
from plait.checkpoints.protocol import Garbage, ItemRecord, JournalRow, RunRecord, Source, Status, as_word
from plait.checkpoints.transfer import JOURNAL_COLUMNS, RUN_COLUMNS, RunTransfer
from plait.errors import RunNotFound, StoreError
from plait.hashing import sha256_hex

T = TypeVar("T")
PLAN_GRACE = 3600.0  # gc keeps an unreferenced plan this long: a starting run saves it before creating the run

REFERENCED_VALUES = """
    SELECT value_hash FROM journal WHERE value_hash IS NOT NULL
    UNION SELECT input_hash FROM items UNION SELECT value_hash FROM cache"""


class SQLStore(StoredAsks, StoredLeases, RunTransfer, ReplayReads, ABC):
    """The Store protocol over SQL tables; SQLiteStore and PostgresStore supply the connection."""

    path: str
    _writer: GroupWriter | None = None  # made by writer(), on first use

    @abstractmethod
    def _transact(self, work: Callable[[Any], T], *, commit: bool = True) -> T:
        """``work(tx)`` in one write transaction; ``commit=False`` rolls it back at the end."""

    @abstractmethod
    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """The rows of one read."""

    def _lock_run(self, tx: Any, run_id: str) -> None:
        """Inside a transaction: keep other lease decisions about ``run_id`` out until it ends."""

    def _clock(self, tx: Any) -> float:
        """The time leases are judged by, as a Unix time."""
        return time.time()

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple | None:
        rows = self._query(sql, args)
        return rows[0] if rows else None

    @cached_property
    def _numbers(self) -> RunNumbers:
        return RunNumbers()

    def _run_no(self, run_id: str) -> int | None:
        """The run's number in this store (run_numbers.py), None if it has no such run."""
        return self._numbers.number(run_id, self._query, keep=True)

    def _run_no_in(self, tx: Any, run_id: str, what: str, node: str | None = None) -> int:
        """Inside a write transaction: the run's number; RunNotFound (naming ``what`` was written) if none."""
        number = self._numbers.number(run_id, lambda sql, args: tx.execute(sql, args).fetchall(), keep=False)
        if number is None:
            raise missing_run(run_id, self.path, what, node)
        return number

    # --- plans and runs -------------------------------------------------------------------------
    def save_plan(self, plan_json: str) -> str:
        plan_hash = sha256_hex(plan_json)
        self._transact(lambda tx: tx.execute(
            "INSERT INTO plans (plan_hash, plan_json, saved_at) VALUES (?, ?, ?)"
            " ON CONFLICT (plan_hash) DO UPDATE SET saved_at=excluded.saved_at", (plan_hash, plan_json, time.time())))
        return plan_hash

    def load_plan(self, plan_hash: str) -> str:
        row = self._one("SELECT plan_json FROM plans WHERE plan_hash=?", (plan_hash,))
        if row is None:
            raise StoreError(f"plan {plan_hash[:12]} is missing from {self.path}",
                             fix="the store is damaged; rerun the pipeline into a new store")
        return row[0]

    def create_run(self, run: RunRecord, items: list[tuple[str, bytes]]) -> None:
        def work(tx: Any) -> None:
            # DO NOTHING: a transaction retried after a lost connection may find its run committed
            tx.execute("INSERT INTO runs (run_id, plan_hash, parent_run, status, created_at, updated_at, config)"
                       " VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                       (run.run_id, run.plan_hash, run.parent_run, run.status, run.created_at, run.updated_at,
                        json.dumps(run.config, sort_keys=True)))
            _insert_items(tx, self._run_no_in(tx, run.run_id, "its items"), items, start=0)

        self._transact(work)

    def add_items(self, run_id: str, items: list[tuple[str, bytes]]) -> None:
        def work(tx: Any) -> None:
            number = self._run_no_in(tx, run_id, "more items")
            (count,) = tx.execute("SELECT COUNT(*) FROM items WHERE run_no=?", (number,)).fetchone()
            _insert_items(tx, number, items, start=count)

        self._transact(work)

    def get_run(self, run_id: str) -> RunRecord:
        row = self._one(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise RunNotFound(f"no run '{run_id}' in {self.path}",
                              fix="list the runs with `plait runs` or store.list_runs()")
        return run_record(row)

    def list_runs(self) -> list[RunRecord]:
        return [run_record(r) for r in self._query(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at, run_id")]

    def set_run(self, run_id: str, *, status: str | None = None, plan_hash: str | None = None) -> None:
        def work(tx: Any) -> None:
            if status is not None:
                tx.execute("UPDATE runs SET status=?, updated_at=? WHERE run_id=?", (status, time.time(), run_id))
            if plan_hash is not None:
                tx.execute("UPDATE runs SET plan_hash=? WHERE run_id=?", (plan_hash, run_id))

        self._transact(work)

    def run_items(self, run_id: str) -> list[ItemRecord]:
        rows = self._query("SELECT item_id, position, input_hash, status, error FROM items WHERE run_no=?"
                           " ORDER BY position", (self._run_no(run_id),))
        return [ItemRecord(r[0], r[1], key_text(r[2]), *r[3:]) for r in rows]  # input_hash: layout.py

    # --- journal, cache and values --------------------------------------------------------------
    def journal(self, run_id: str, item_ids: Sequence[str] | None = None) -> dict[tuple[str, str, int], JournalRow]:
        """The run's journal rows by (item, node, iteration); with ``item_ids``, those items' only."""
        number = self._run_no(run_id)
        where, args = "run_no=?", (number,)
        if item_ids is not None:
            if not item_ids:
                return {}  # PostgreSQL has no empty IN ()
            where, args = f"run_no=? AND item_id IN ({','.join('?' * len(item_ids))})", (number, *item_ids)
        rows = self._query(f"SELECT {JOURNAL_COLUMNS} FROM journal WHERE {where}", args) if number is not None else []
        return {(r[1], r[2], r[3]): journal_row(r, run_id) for r in rows}

    def lookup(self, content_key: str) -> str | None:
        row = self._one("SELECT value_hash FROM cache WHERE content_key=?", (key_bytes(content_key),))
        return key_text(row[0]) if row else None

    def lookup_many(self, content_keys: Sequence[str]) -> dict[str, str]:
        """The cache's value hash for each of ``content_keys`` it holds, in one query per 500: the
        executor's lookups of one loop iteration, read together (runtime/lookups.py)."""
        stored = {key_bytes(k): k for k in content_keys}
        rows = self._query_in("SELECT content_key, value_hash FROM cache WHERE content_key IN ({marks})", list(stored))
        return {stored[bytes(k)]: key_text(v) for k, v in rows}

    def read_value(self, value_hash: str) -> bytes:
        row = self._one("SELECT data FROM blobs WHERE hash=?", (key_bytes(value_hash),))
        if row is None:
            raise StoreError(f"value {value_hash[:12]} is missing from {self.path}",
                             fix="the store is damaged; rerun the affected run into a new store")
        data = bytes(row[0])
        if sha256_hex(data) != value_hash:
            raise StoreError(f"value {value_hash[:12]} in {self.path} does not match its hash",
                             expected=value_hash, found=sha256_hex(data), fix="the store is damaged; rerun into a new store")
        return data

    def read_values(self, value_hashes: Sequence[str]) -> dict[str, bytes]:
        """The values of ``value_hashes`` in one query per 500 (replay reads an item's at once). One
        missing or not matching its hash is left out: ``read_value`` then says what is wrong."""
        rows = self._query_in("SELECT hash, data FROM blobs WHERE hash IN ({marks})",
                              [key_bytes(h) for h in sorted(set(value_hashes))])
        return {key_text(h): bytes(d) for h, d in rows if sha256_hex(bytes(d)) == key_text(h)}

    def _query_in(self, sql: str, keys: Sequence[Any]) -> Iterator[tuple]:
        """The rows of ``sql`` for ``keys``, its ``{marks}`` their IN list's placeholders: one query
        per 500 keys, well under any database's limit on parameters."""
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            yield from self._query(sql.format(marks=",".join("?" * len(chunk))), chunk)

    def record(self, row: JournalRow, value: bytes | None, *, cache: bool, item_status: str | None,
               owner: str | None = None, drop: str | None = None) -> None:
        """The node's value, journal row, cache entry and item status, in one transaction.
        With ``owner``, only while that owner holds the run's lease (else LeaseHeld, nothing written).
        ``drop``: the hash of a value only the row held until now, deleted with it (Record.drop)."""
        self.record_batch([Record(row, value, cache, item_status, owner, drop)])

    def record_batch(self, records: Sequence[Record]) -> None:
        """Several ``record`` calls in one transaction: all of them are written, or none."""
        for run_id in {r.row.run_id for r in records}:
            self._run_no(run_id)  # read committed, and kept: the transaction finds it known

        def work(tx: Any) -> None:
            # one lease check per run and owner: the lease cannot change inside this transaction
            for run_id, owner in {(r.row.run_id, r.owner) for r in records if r.owner is not None}:
                self._check_holder(tx, run_id, owner)
            numbers: dict[str, int] = {}
            for row in (r.row for r in records if r.row.run_id not in numbers):  # a run's first row names it
                numbers[row.run_id] = self._run_no_in(tx, row.run_id, f"item {row.item_id}'s journal row", row.node_id)
            # each statement once for the batch (or a few chunks: batch_rows.py), the rows in their order
            now = time.time()
            self._insert(tx, PUT_VALUE, [(key_bytes(r.row.value_hash), r.value) for r in records if r.value is not None])
            self._insert(tx, RECORD, [record_args(r.row, numbers[r.row.run_id], now) for r in records])
            for insert, rows in zip((CACHE, REMEMBER_FAILURE), cache_rows(records)):
                self._insert(tx, insert, rows)
            set_item_statuses(tx, records, numbers)
            if dropped := [(key_bytes(r.drop),) for r in records if r.drop is not None]:  # rare: after re-asks
                tx.executemany("DELETE FROM blobs WHERE hash=?", dropped)

        self._transact(work)

    def _insert(self, tx: Any, insert: Insert, rows: list[tuple]) -> None:
        """``rows`` by ``insert``, in order (PostgreSQL's driver pipelines them; SQLite: batch_rows.py)."""
        if rows:
            tx.executemany(insert.one, rows)

    def writer(self) -> GroupWriter:
        """The store's writer thread (group.py), started by its first record: the executor's records
        go through it, many nodes per transaction, off the event loop."""
        if self._writer is None:
            self._writer = GroupWriter(self.record_batch, self._record_one)
        return self._writer

    def _record_one(self, r: Record) -> None:
        self.record_batch([r])

    def _close_writer(self) -> None:
        """Commit what the writer holds and end its thread: before the connection closes."""
        if self._writer is not None:
            self._writer.close()

    def copy_journal(self, source_run: str, target_run: str, node_ids: set[str]) -> int:
        marks = ",".join("?" * len(node_ids))

        def work(tx: Any) -> int:
            target = self._run_no_in(tx, target_run, f"the journal rows copied from run {source_run}")
            return tx.execute(
                f"INSERT INTO journal ({JOURNAL_COLUMNS}) SELECT ?, item_id, node_id, iteration, content_key,"
                f" value_hash, status, 'journal', error, lm, usage, attempts, recorded_at, replay_key, 0, 0, 0, 0,"
                f" NULL FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?) AND status='ok'"
                f" AND node_id IN ({marks}) ON CONFLICT DO NOTHING", (target, source_run, *sorted(node_ids))).rowcount

        return self._transact(work)

    # --- leases: stored_leases.py --------------------------------------------------------------
    # --- maintenance ----------------------------------------------------------------------------
    def item_counts(self) -> dict[str, dict[str, int]]:
        """run id -> item status -> count, for every run."""
        counts: dict[str, dict[str, int]] = {}
        for run_id, status, count in self._query(f"SELECT runs.run_id, c.status, c.n FROM {_BY_RUN} c"
                                                 " JOIN runs ON runs.run_no = c.run_no"):
            counts.setdefault(run_id, {})[status] = count
        return counts

    def spending(self) -> dict[str, Spend]:
        """run id -> the sum of its journal rows' spend (spend.py): its totals over all invocations."""
        rows = self._query(f"SELECT runs.run_id, s.r, s.a, s.p, s.c, s.cost FROM {_SPENT_BY_RUN} s"
                           " JOIN runs ON runs.run_no = s.run_no")
        return {r[0]: Spend(*(int(n) for n in r[1:5]), None if r[5] is None else float(r[5])) for r in rows}

    def journal_summary(self, run_id: str) -> list[tuple[str, str, bool, int, Spend]]:
        """(source, status, first iteration, rows, their spend) of one run's journal, summed by the
        database: a run's totals without reading its rows into memory (100,000 items are 500,000)."""
        rows = self._query("SELECT source, status, iteration = 0, COUNT(*), SUM(requests), SUM(answered),"
                           " SUM(prompt_tokens), SUM(completion_tokens), SUM(cost) FROM journal WHERE run_no = ?"
                           " GROUP BY source, status, iteration = 0", (self._run_no(run_id),))
        return [(r[0], r[1], bool(r[2]), int(r[3]), Spend(*(int(n or 0) for n in r[4:8]),
                                                          None if r[8] is None else float(r[8]))) for r in rows]

    def key_requests(self, content_keys: Sequence[str]) -> dict[str, int]:
        """content key -> the most LM requests one journal row of any run recorded under it: what
        computing it took, for keys a run only reused (its own row spent nothing)."""
        found: dict[str, int] = {}
        keys = sorted(set(content_keys))
        for start in range(0, len(keys), 500):  # well under any database's limit on parameters
            chunk = keys[start:start + 500]
            found.update((key_text(k), int(n)) for k, n in self._query(
                f"SELECT content_key, MAX(requests) FROM journal WHERE content_key IN ({','.join('?' * len(chunk))})"
                " GROUP BY content_key", [key_bytes(k) for k in chunk]))
        return found

    def collect_garbage(self, run_ids: Sequence[str] = (), *, dry_run: bool = False) -> Garbage:
        """Delete ``run_ids`` (their items, journal and leases), then every value, cache entry and plan
        no remaining run references, in one transaction. ``dry_run`` counts and rolls back.
        Refuses (LeaseHeld) a run that a live process is running."""
        return self._transact(lambda tx: self._collect(tx, list(run_ids)), commit=not dry_run)

    def _collect(self, tx: Any, run_ids: list[str]) -> Garbage:
        now = time.time()
        for run_id in run_ids:
            self._lock_run(tx, run_id)
            held = lease_row(tx, run_id)
            if held is not None and is_active(held, self._clock(tx)):
                raise lease_held(held, now=now)  # deleting a run under a live process breaks it
        existing, items, journal = self._delete_runs(tx, run_ids) if run_ids else ((), 0, 0)
        cache = tx.execute("DELETE FROM cache WHERE value_hash NOT IN"
                           " (SELECT value_hash FROM journal WHERE value_hash IS NOT NULL)").rowcount
        values, size = tx.execute(f"SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM blobs"
                                  f" WHERE hash NOT IN ({REFERENCED_VALUES})").fetchone()
        tx.execute(f"DELETE FROM blobs WHERE hash NOT IN ({REFERENCED_VALUES})")
        plans = tx.execute("DELETE FROM plans WHERE saved_at < ? AND plan_hash NOT IN (SELECT plan_hash FROM runs)",
                           (now - PLAN_GRACE,)).rowcount
        return Garbage(existing, items, journal, int(values), int(size), cache, plans)

    def _delete_runs(self, tx: Any, run_ids: list[str]) -> tuple[tuple[str, ...], int, int]:
        """Delete the runs and every row of theirs; (the runs that existed, items, journal rows)."""
        marks = ",".join("?" * len(run_ids))
        found = tx.execute(f"SELECT run_id, run_no FROM runs WHERE run_id IN ({marks}) ORDER BY created_at, run_id",
                           run_ids).fetchall()
        numbers, numbered = [r[1] for r in found], ",".join("?" * len(found))
        journal, items = (tx.execute(f"DELETE FROM {table} WHERE run_no IN ({numbered})", numbers).rowcount
                          if found else 0 for table in ("journal", "items"))
        for table in ("leases", "asks", "runs"):
            tx.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", run_ids)
        self._numbers.forget(run_ids)
        return tuple(r[0] for r in found), items, journal


# Per run number, summed before the join that names the run (one lookup per group, not per row).
_BY_RUN = "(SELECT run_no, status, COUNT(*) AS n FROM items GROUP BY run_no, status)"
_SPENT_BY_RUN = ("(SELECT run_no, SUM(requests) AS r, SUM(answered) AS a, SUM(prompt_tokens) AS p,"
                 " SUM(completion_tokens) AS c, SUM(cost) AS cost FROM journal GROUP BY run_no)")



def _insert_items(tx: Any, run_no: int, items: list[tuple[str, bytes]], start: int) -> None:
    rows, blobs = [], {}
    for position, (item_id, data) in enumerate(items, start):
        digest = key_bytes(sha256_hex(data))
        blobs[digest] = data
        rows.append((run_no, item_id, position, digest, "pending", None))
    # in hash order: two transactions inserting the same values then wait for each other, never deadlock
    tx.executemany(PUT_VALUE.one, sorted(blobs.items()))
    tx.executemany("INSERT INTO items (run_no, item_id, position, input_hash, status, error) VALUES (?,?,?,?,?,?)"
                   " ON CONFLICT DO NOTHING", rows)


def run_record(row: tuple) -> RunRecord:
    run_id, plan_hash, parent, status, created, updated, config = row
    return RunRecord(run_id, plan_hash, status, created, updated, parent, json.loads(config))


def journal_row(r: tuple, run_id: str) -> JournalRow:
    """A row of run ``run_id`` read in JOURNAL_COLUMNS order (layout.py: its keys and usage as stored)."""
    return JournalRow(run_id=run_id, item_id=r[1], node_id=r[2], iteration=r[3], content_key=key_text(r[4]),
                      value_hash=key_text(r[5]), status=as_word(Status, r[6]), source=as_word(Source, r[7]),
                      error=r[8], lm=r[9], usage=usage_dict(r[10]), attempts=r[11], replay_key=key_text(r[13]),
                      spent=Spend(*r[14:19]))

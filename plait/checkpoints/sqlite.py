"""The SQLite checkpoint store: one file, WAL mode, one transaction per recorded node.

Durability: by default a committed node survives the process being killed (WAL with
``synchronous=NORMAL``: the commit is in the OS's hands before ``record`` returns). With
``durability="power"`` every commit is also fsynced (``synchronous=FULL``), surviving power loss
at the cost of a disk flush per node.

Concurrency: any number of processes may write different runs to one file. Writes take SQLite's
write lock up front (``BEGIN IMMEDIATE``) and wait for it up to ``timeout`` seconds; a lease
(see ``lease.py``) keeps two processes from running the same run. The schema, its migrations,
opening the file and the checks on damaged files are in ``sqlite_schema.py``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

from plait.checkpoints import sqlite_schema as schema
from plait.checkpoints.asks import SQLiteAsks
from plait.checkpoints.check import StoreCheck, run_checks
from plait.checkpoints.keys import failure_key
from plait.checkpoints.lease import is_active, lease_held, this_host
from plait.checkpoints.protocol import Garbage, ItemRecord, JournalRow, Lease, RunRecord
from plait.errors import RunNotFound, SettingError, StoreError
from plait.hashing import sha256_hex

SCHEMA_VERSION = schema.SCHEMA_VERSION
APP_ID = schema.APP_ID
PLAN_GRACE = 3600.0  # gc keeps an unreferenced plan this long: a starting run saves it before creating the run

# A node output recorded 'ok' is final: a second write of the same journal key never changes it.
_RECORD = """
INSERT INTO journal VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (run_id, item_id, node_id, iteration) DO UPDATE SET
    content_key=excluded.content_key, value_hash=excluded.value_hash, status=excluded.status,
    source=excluded.source, error=excluded.error, lm=excluded.lm, usage=excluded.usage,
    attempts=journal.attempts + excluded.attempts, recorded_at=excluded.recorded_at,
    replay_key=excluded.replay_key
WHERE journal.status != 'ok'
"""


class SQLiteStore(SQLiteAsks):
    """A checkpoint store in one SQLite file. ``create=True``: a missing or empty file becomes a new
    store; ``create=False`` (what resume and every reading operation use): the file must already be a
    plait store, and is refused (StoreError), unchanged, if it is not.

    Example::

        store = SQLiteStore("runs.db")            # durable against a killed process
        store = SQLiteStore("runs.db", durability="power")   # and against power loss
    """

    def __init__(self, path: str | Path, *, durability: str = "process", timeout: float = 60.0,
                 create: bool = True) -> None:
        if durability not in ("process", "power"):
            raise SettingError("durability must be 'process' or 'power'", expected="'process' or 'power'",
                               found=repr(durability), fix="durability='process' survives a killed process; "
                               "'power' also survives power loss, at a cost per commit")
        self.path = str(path)
        self._lock = threading.RLock()
        schema.check_file(self.path, create=create)
        self._conn = schema.connect(self.path, timeout, "FULL" if durability == "power" else "NORMAL", create)
        try:
            self._init_schema(create)
        except BaseException:
            self._conn.close()
            raise

    # --- schema ---------------------------------------------------------------------------------
    def _init_schema(self, create: bool) -> None:
        """Create the tables in a new (empty) database when ``create``; migrate an older store."""
        with self._guard("open"):
            if schema.stored_version(self._conn, self.path) == SCHEMA_VERSION:
                return
            with self._write():  # look again under the write lock: another process may have done it
                version = schema.stored_version(self._conn, self.path)
                if version is None and not create:
                    raise schema.not_a_store(self.path)
                if version is None:
                    schema.create(self._conn)
                elif version < SCHEMA_VERSION:
                    schema.migrate(self._conn, version)

    # --- plans and runs -------------------------------------------------------------------------
    def save_plan(self, plan_json: str) -> str:
        plan_hash = sha256_hex(plan_json)
        with self._write():
            self._conn.execute("INSERT INTO plans (plan_hash, plan_json, saved_at) VALUES (?, ?, ?)"
                               " ON CONFLICT (plan_hash) DO UPDATE SET saved_at=excluded.saved_at",
                               (plan_hash, plan_json, time.time()))
        return plan_hash

    def load_plan(self, plan_hash: str) -> str:
        row = self._one("SELECT plan_json FROM plans WHERE plan_hash=?", (plan_hash,))
        if row is None:
            raise StoreError(f"plan {plan_hash[:12]} is missing from {self.path}",
                             fix="the store is damaged; rerun the pipeline into a new store")
        return row[0]

    def create_run(self, run: RunRecord, items: list[tuple[str, bytes]]) -> None:
        with self._write():
            self._conn.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?)",
                (run.run_id, run.plan_hash, run.parent_run, run.status, run.created_at, run.updated_at,
                 json.dumps(run.config, sort_keys=True)))
            self._insert_items(run.run_id, items, start=0)

    def add_items(self, run_id: str, items: list[tuple[str, bytes]]) -> None:
        with self._write():
            (count,) = self._conn.execute("SELECT COUNT(*) FROM items WHERE run_id=?", (run_id,)).fetchone()
            self._insert_items(run_id, items, start=count)

    def _insert_items(self, run_id: str, items: list[tuple[str, bytes]], start: int) -> None:
        rows, blobs = [], []
        for position, (item_id, data) in enumerate(items, start):
            digest = sha256_hex(data)
            blobs.append((digest, data))
            rows.append((run_id, item_id, position, digest, "pending", None))
        self._conn.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?)", blobs)
        self._conn.executemany("INSERT OR IGNORE INTO items VALUES (?,?,?,?,?,?)", rows)

    def get_run(self, run_id: str) -> RunRecord:
        row = self._one("SELECT * FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise RunNotFound(f"no run '{run_id}' in {self.path}",
                              fix="list the runs with `plait runs` or store.list_runs()")
        return _run_record(row)

    def list_runs(self) -> list[RunRecord]:
        with self._guard("read"):
            rows = self._conn.execute("SELECT * FROM runs ORDER BY created_at").fetchall()
        return [_run_record(r) for r in rows]

    def set_run(self, run_id: str, *, status: str | None = None, plan_hash: str | None = None) -> None:
        with self._write():
            if status is not None:
                self._conn.execute("UPDATE runs SET status=?, updated_at=? WHERE run_id=?",
                                   (status, time.time(), run_id))
            if plan_hash is not None:
                self._conn.execute("UPDATE runs SET plan_hash=? WHERE run_id=?", (plan_hash, run_id))

    def run_items(self, run_id: str) -> list[ItemRecord]:
        with self._guard("read"):
            rows = self._conn.execute(
                "SELECT item_id, position, input_hash, status, error FROM items WHERE run_id=? ORDER BY position",
                (run_id,)).fetchall()
        return [ItemRecord(*r) for r in rows]

    # --- journal, cache and values --------------------------------------------------------------
    def journal(self, run_id: str, item_ids: Sequence[str] | None = None) -> dict[tuple[str, str, int], JournalRow]:
        where, args = "run_id=?", (run_id,)
        if item_ids is not None:
            where, args = f"run_id=? AND item_id IN ({','.join('?' * len(item_ids))})", (run_id, *item_ids)
        with self._guard("read"):
            rows = self._conn.execute(
                "SELECT run_id, item_id, node_id, iteration, content_key, value_hash, status, source, error,"
                f" lm, usage, attempts, replay_key FROM journal WHERE {where}", args).fetchall()
        return {(r[1], r[2], r[3]): _journal_row(r) for r in rows}

    def lookup(self, content_key: str) -> str | None:
        row = self._one("SELECT value_hash FROM cache WHERE content_key=?", (content_key,))
        return row[0] if row else None

    def read_value(self, value_hash: str) -> bytes:
        row = self._one("SELECT data FROM blobs WHERE hash=?", (value_hash,))
        if row is None:
            raise StoreError(f"value {value_hash[:12]} is missing from {self.path}",
                             fix="the store is damaged; rerun the affected run into a new store")
        data = bytes(row[0])
        if sha256_hex(data) != value_hash:
            raise StoreError(f"value {value_hash[:12]} in {self.path} does not match its hash",
                             expected=value_hash, found=sha256_hex(data), fix="the store is damaged; rerun into a new store")
        return data

    def record(self, row: JournalRow, value: bytes | None, *, cache: bool, item_status: str | None,
               owner: str | None = None) -> None:
        """The node's value, journal row, cache entry and item status, in one transaction.
        With ``owner``, only while that owner holds the run's lease (else LeaseHeld, nothing written)."""
        now = time.time()
        with self._write():
            if owner is not None:
                self._check_holder(row.run_id, owner)
            if value is not None:
                self._conn.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (row.value_hash, value))
            self._conn.execute(_RECORD, (
                row.run_id, row.item_id, row.node_id, row.iteration, row.content_key, row.value_hash,
                row.status, row.source, row.error, row.lm, json.dumps(row.usage) if row.usage else None,
                row.attempts, now, row.replay_key))
            if cache and row.status == "ok":
                self._conn.execute("INSERT OR IGNORE INTO cache VALUES (?, ?)", (row.content_key, row.value_hash))
            elif cache and row.status == "failed" and row.value_hash:  # a parse failure, under a derived key
                self._conn.execute("INSERT OR REPLACE INTO cache VALUES (?, ?)",
                                   (failure_key(row.content_key), row.value_hash))
            if item_status is not None:
                self._conn.execute("UPDATE items SET status=?, error=? WHERE run_id=? AND item_id=?",
                                   (item_status, row.error if item_status == "failed" else None,
                                    row.run_id, row.item_id))

    def copy_journal(self, source_run: str, target_run: str, node_ids: set[str]) -> int:
        marks = ",".join("?" * len(node_ids))
        with self._write():
            cur = self._conn.execute(
                f"INSERT OR IGNORE INTO journal SELECT ?, item_id, node_id, iteration, content_key, value_hash,"
                f" status, 'journal', error, lm, usage, attempts, recorded_at, replay_key FROM journal"
                f" WHERE run_id=? AND status='ok' AND node_id IN ({marks})",
                (target_run, source_run, *sorted(node_ids)))
        return cur.rowcount

    # --- leases ---------------------------------------------------------------------------------
    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> None:
        """Take the run's lease for ``ttl`` seconds: refused (LeaseHeld) while another owner's lease
        is live; one that expired, or whose holder on this host is dead, is taken over."""
        now = time.time()
        with self._write():
            held = self._lease_row(run_id)
            if held is not None and held.owner != owner and is_active(held, now):
                raise lease_held(held, now=now)
            since = held.acquired_at if held is not None and held.owner == owner else now
            self._conn.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?,?)",
                               (run_id, owner, this_host(), os.getpid(), since, now + ttl))

    def renew_lease(self, run_id: str, owner: str, ttl: float) -> None:
        """Extend our lease to ``ttl`` seconds from now. Raises LeaseHeld(lost=True) if another
        process took it over (ours had expired), StoreError if it is gone."""
        with self._write():
            self._check_holder(run_id, owner)
            self._conn.execute("UPDATE leases SET expires_at=? WHERE run_id=?", (time.time() + ttl, run_id))

    def release_lease(self, run_id: str, owner: str) -> None:
        with self._write():
            self._conn.execute("DELETE FROM leases WHERE run_id=? AND owner=?", (run_id, owner))

    def lease(self, run_id: str) -> Lease | None:
        with self._guard("read"):
            return self._lease_row(run_id)

    def _lease_row(self, run_id: str) -> Lease | None:
        row = self._conn.execute("SELECT * FROM leases WHERE run_id=?", (run_id,)).fetchone()
        return Lease(*row) if row else None

    def _check_holder(self, run_id: str, owner: str) -> None:
        held = self._lease_row(run_id)
        if held is None:
            raise StoreError(f"this process no longer holds run {run_id}: its lease is gone",
                             found="no lease row (released by another process, or deleted by `plait gc`)",
                             fix="stop here and resume the run again; recorded nodes are kept")
        if held.owner != owner:
            raise lease_held(held, lost=True)

    # --- maintenance ----------------------------------------------------------------------------
    def item_counts(self) -> dict[str, dict[str, int]]:
        """run id -> item status -> count, for every run."""
        with self._guard("read"):
            rows = self._conn.execute("SELECT run_id, status, COUNT(*) FROM items GROUP BY run_id, status").fetchall()
        counts: dict[str, dict[str, int]] = {}
        for run_id, status, count in rows:
            counts.setdefault(run_id, {})[status] = count
        return counts

    def collect_garbage(self, run_ids: Sequence[str] = (), *, dry_run: bool = False) -> Garbage:
        """Delete ``run_ids`` (their items, journal and leases), then every value, cache entry and plan
        no remaining run references, in one transaction. ``dry_run`` counts and rolls back.
        Refuses (LeaseHeld) a run that a live process is running."""
        with self._write(commit=not dry_run):
            return _collect(self._conn, list(run_ids), time.time())

    def vacuum(self) -> int:
        """Give freed pages back to the file system; returns the bytes the store shrank by."""
        before = self.size_bytes()
        with self._guard("vacuum"):
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return before - self.size_bytes()

    def check(self, *, full: bool = False) -> StoreCheck:
        """Check the store's pages, schema, references and values (see check.py); reads only.

        Example::

            report = store.check()
            report.ok, [(p.where, p.what, p.fix) for p in report.problems]
        """
        with self._lock:
            return run_checks(self._conn, self.path, full=full)

    def size_bytes(self) -> int:
        with self._guard("read"):
            (pages,) = self._conn.execute("PRAGMA page_count").fetchone()
            (size,) = self._conn.execute("PRAGMA page_size").fetchone()
        return pages * size

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- plumbing -------------------------------------------------------------------------------
    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._guard("read"):
            return self._conn.execute(sql, args).fetchone()

    @contextmanager
    def _write(self, commit: bool = True):
        """One write transaction, taken up front; ``commit=False`` rolls it back at the end."""
        with self._guard("write"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT" if commit else "ROLLBACK")

    @contextmanager
    def _guard(self, what: str):
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                raise schema.store_error(self.path, what, exc) from None


_REFERENCED_VALUES = """
    SELECT value_hash FROM journal WHERE value_hash IS NOT NULL
    UNION SELECT input_hash FROM items UNION SELECT value_hash FROM cache"""


def _collect(conn: sqlite3.Connection, run_ids: list[str], now: float) -> Garbage:
    """The SQL of collect_garbage, inside the caller's transaction."""
    for run_id in run_ids:
        row = conn.execute("SELECT * FROM leases WHERE run_id=?", (run_id,)).fetchone()
        if row and is_active(Lease(*row), now):
            raise lease_held(Lease(*row), now=now)  # deleting a run under a live process breaks it
    marks = ",".join("?" * len(run_ids))
    existing = tuple(r[0] for r in conn.execute(f"SELECT run_id FROM runs WHERE run_id IN ({marks})", run_ids))
    journal, items = (conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", run_ids).rowcount
                      for table in ("journal", "items"))
    for table in ("leases", "asks", "runs"):
        conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", run_ids)
    cache = conn.execute("DELETE FROM cache WHERE value_hash NOT IN"
                         " (SELECT value_hash FROM journal WHERE value_hash IS NOT NULL)").rowcount
    values, size = conn.execute(f"SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM blobs"
                                f" WHERE hash NOT IN ({_REFERENCED_VALUES})").fetchone()
    conn.execute(f"DELETE FROM blobs WHERE hash NOT IN ({_REFERENCED_VALUES})")
    plans = conn.execute("DELETE FROM plans WHERE saved_at < ? AND plan_hash NOT IN (SELECT plan_hash FROM runs)",
                         (now - PLAN_GRACE,)).rowcount
    return Garbage(existing, items, journal, values, size, cache, plans)


def _run_record(row: tuple) -> RunRecord:
    run_id, plan_hash, parent, status, created, updated, config = row
    return RunRecord(run_id, plan_hash, status, created, updated, parent, json.loads(config))


def _journal_row(r: tuple) -> JournalRow:
    return JournalRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                      json.loads(r[10]) if r[10] else None, r[11], r[12])

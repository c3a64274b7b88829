"""The SQLite checkpoint store: one file, WAL mode, one transaction per recorded node.

Durability: by default a committed node survives the process being killed (WAL with
``synchronous=NORMAL``: the commit is in the OS's hands before ``record`` returns). With
``durability="power"`` every commit is also fsynced (``synchronous=FULL``), surviving power loss
at the cost of a disk flush per node.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from plait.checkpoints.protocol import ItemRecord, JournalRow, RunRecord
from plait.errors import RunNotFound, StoreError
from plait.hashing import sha256_hex

SCHEMA_VERSION = 1
APP_ID = "plait"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plans (plan_hash TEXT PRIMARY KEY, plan_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, plan_hash TEXT NOT NULL, parent_run TEXT, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL, item_id TEXT NOT NULL, position INTEGER NOT NULL, input_hash TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, PRIMARY KEY (run_id, item_id));
CREATE TABLE IF NOT EXISTS journal (
    run_id TEXT NOT NULL, item_id TEXT NOT NULL, node_id TEXT NOT NULL, iteration INTEGER NOT NULL,
    content_key TEXT NOT NULL, value_hash TEXT, status TEXT NOT NULL, source TEXT NOT NULL,
    error TEXT, lm TEXT, usage TEXT, attempts INTEGER NOT NULL, recorded_at REAL NOT NULL,
    PRIMARY KEY (run_id, item_id, node_id, iteration));
CREATE TABLE IF NOT EXISTS cache (content_key TEXT PRIMARY KEY, value_hash TEXT NOT NULL);
"""

# A node output recorded 'ok' is final: a second write of the same journal key never changes it.
_RECORD = """
INSERT INTO journal VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (run_id, item_id, node_id, iteration) DO UPDATE SET
    content_key=excluded.content_key, value_hash=excluded.value_hash, status=excluded.status,
    source=excluded.source, error=excluded.error, lm=excluded.lm, usage=excluded.usage,
    attempts=journal.attempts + excluded.attempts, recorded_at=excluded.recorded_at
WHERE journal.status != 'ok'
"""


class SQLiteStore:
    """A checkpoint store in one SQLite file (created if missing).

    Example::

        store = SQLiteStore("runs.db")            # durable against a killed process
        store = SQLiteStore("runs.db", durability="power")   # and against power loss
    """

    def __init__(self, path: str | Path, *, durability: str = "process", timeout: float = 60.0) -> None:
        if durability not in ("process", "power"):
            raise ValueError("durability must be 'process' or 'power'")
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = _connect(self.path, timeout)
        self._conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'power' else 'NORMAL'}")
        self._init_schema()

    # --- schema ---------------------------------------------------------------------------------
    def _init_schema(self) -> None:
        with self._guard("open"):
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise StoreError(f"{self.path} is an SQLite database but not a plait store",
                                 found=f"tables {sorted(tables)}", fix="point store= at a new file or a plait store")
            if not tables:
                with self._write():
                    for stmt in filter(str.strip, _SCHEMA.split(";")):
                        self._conn.execute(stmt)
                    self._conn.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)",
                                           [("app", APP_ID), ("schema_version", str(SCHEMA_VERSION))])
            self._check_meta()

    def _check_meta(self) -> None:
        meta = dict(self._conn.execute("SELECT key, value FROM meta"))
        if meta.get("app") != APP_ID:
            raise StoreError(f"{self.path} is not a plait store", found=f"meta {meta}",
                             fix="point store= at a new file or a plait store")
        version = int(meta.get("schema_version", -1))
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer plait (store schema {version})",
                expected=f"schema {SCHEMA_VERSION} or older", found=f"schema {version}",
                fix="upgrade plait to read this store, or use another store file")
        if version < 1:
            raise StoreError(f"{self.path} has an invalid schema version", found=repr(meta.get("schema_version")),
                             fix="the store is damaged; point store= at a new file")

    # --- plans and runs -------------------------------------------------------------------------
    def save_plan(self, plan_json: str) -> str:
        plan_hash = sha256_hex(plan_json)
        with self._write():
            self._conn.execute("INSERT OR IGNORE INTO plans VALUES (?, ?)", (plan_hash, plan_json))
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
    def journal(self, run_id: str) -> dict[tuple[str, str, int], JournalRow]:
        with self._guard("read"):
            rows = self._conn.execute(
                "SELECT run_id, item_id, node_id, iteration, content_key, value_hash, status, source, error,"
                " lm, usage, attempts FROM journal WHERE run_id=?", (run_id,)).fetchall()
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

    def record(self, row: JournalRow, value: bytes | None, *, cache: bool, item_status: str | None) -> None:
        """The node's value, journal row, cache entry and item status, in one transaction."""
        now = time.time()
        with self._write():
            if value is not None:
                self._conn.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (row.value_hash, value))
            self._conn.execute(_RECORD, (
                row.run_id, row.item_id, row.node_id, row.iteration, row.content_key, row.value_hash,
                row.status, row.source, row.error, row.lm, json.dumps(row.usage) if row.usage else None,
                row.attempts, now))
            if cache and row.status == "ok":
                self._conn.execute("INSERT OR IGNORE INTO cache VALUES (?, ?)", (row.content_key, row.value_hash))
            if item_status is not None:
                self._conn.execute("UPDATE items SET status=?, error=? WHERE run_id=? AND item_id=?",
                                   (item_status, row.error if item_status == "failed" else None,
                                    row.run_id, row.item_id))

    def copy_journal(self, source_run: str, target_run: str, node_ids: set[str]) -> int:
        marks = ",".join("?" * len(node_ids))
        with self._write():
            cur = self._conn.execute(
                f"INSERT OR IGNORE INTO journal SELECT ?, item_id, node_id, iteration, content_key, value_hash,"
                f" status, 'journal', error, lm, usage, attempts, recorded_at FROM journal"
                f" WHERE run_id=? AND status='ok' AND node_id IN ({marks})",
                (target_run, source_run, *sorted(node_ids)))
        return cur.rowcount

    def size_bytes(self) -> int:
        (pages,), (size,) = self._conn.execute("PRAGMA page_count"), self._conn.execute("PRAGMA page_size")
        return pages * size

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- plumbing -------------------------------------------------------------------------------
    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._guard("read"):
            return self._conn.execute(sql, args).fetchone()

    @contextmanager
    def _write(self):
        with self._guard("write"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _guard(self, what: str):
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                raise _store_error(self.path, what, exc) from None


def _connect(path: str, timeout: float) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        raise _store_error(path, "open", exc) from None
    return conn


def _store_error(path: str, what: str, exc: sqlite3.DatabaseError) -> StoreError:
    return StoreError(f"cannot {what} the checkpoint store {path}", found=f"{type(exc).__name__}: {exc}",
                      fix="if the file is damaged or not a plait store, point store= at a new file")


def _run_record(row: tuple) -> RunRecord:
    run_id, plan_hash, parent, status, created, updated, config = row
    return RunRecord(run_id, plan_hash, status, created, updated, parent, json.loads(config))


def _journal_row(r: tuple) -> JournalRow:
    return JournalRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                      json.loads(r[10]) if r[10] else None, r[11])

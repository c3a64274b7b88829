"""The SQLite checkpoint store: one file, WAL mode, one transaction per recorded node.

Durability: by default a committed node survives the process being killed (WAL with
``synchronous=NORMAL``: the commit is in the OS's hands before ``record`` returns). With
``durability="power"`` every commit is also fsynced (``synchronous=FULL``), surviving power loss
at the cost of a disk flush per node.

Concurrency: any number of processes may write different runs to one file. Writes take SQLite's
write lock up front (``BEGIN IMMEDIATE``) and wait for it up to ``timeout`` seconds; a lease
(see ``lease.py``) keeps two processes from running the same run. The schema, its migrations and
the checks on damaged files are in ``sqlite_schema.py``; the SQL of every store method, shared
with the PostgreSQL store, in ``sql_store.py``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from plait.checkpoints import sqlite_schema as schema
from plait.checkpoints.sql_store import SQLStore
from plait.errors import StoreError

SCHEMA_VERSION = schema.SCHEMA_VERSION
APP_ID = schema.APP_ID
T = TypeVar("T")


class SQLiteStore(SQLStore):
    """A checkpoint store in one SQLite file (created if missing).

    Example::

        store = SQLiteStore("runs.db")            # durable against a killed process
        store = SQLiteStore("runs.db", durability="power")   # and against power loss
    """

    def __init__(self, path: str | Path, *, durability: str = "process", timeout: float = 60.0,
                 create: bool = True) -> None:
        if durability not in ("process", "power"):
            raise ValueError("durability must be 'process' or 'power'")
        self.path = str(path)
        self._lock = threading.RLock()
        schema.check_file(self.path, create=create)
        self._conn = _connect(self.path, timeout, "FULL" if durability == "power" else "NORMAL")
        try:
            self._init_schema()
        except BaseException:
            self._conn.close()
            raise

    # --- schema ---------------------------------------------------------------------------------
    def _init_schema(self) -> None:
        with self._guard("open"):
            if schema.stored_version(self._conn, self.path) == SCHEMA_VERSION:
                return
            with self._write():  # look again under the write lock: another process may have done it
                version = schema.stored_version(self._conn, self.path)
                if version is None:
                    schema.create(self._conn)
                elif version < SCHEMA_VERSION:
                    schema.migrate(self._conn, version)

    # --- the connection: what SQLStore runs its SQL on ------------------------------------------
    def _transact(self, work: Callable[[sqlite3.Connection], T], *, commit: bool = True) -> T:
        with self._write(commit):
            return work(self._conn)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._guard("read"):
            return self._conn.execute(sql, args).fetchall()

    # --- maintenance ----------------------------------------------------------------------------
    def vacuum(self) -> int:
        """Give freed pages back to the file system; returns the bytes the store shrank by."""
        before = self.size_bytes()
        with self._guard("vacuum"):
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return before - self.size_bytes()

    def size_bytes(self) -> int:
        with self._guard("read"):
            (pages,) = self._conn.execute("PRAGMA page_count").fetchone()
            (size,) = self._conn.execute("PRAGMA page_size").fetchone()
        return pages * size

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- plumbing -------------------------------------------------------------------------------
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
                raise _store_error(self.path, what, exc) from None


def _connect(path: str, timeout: float, synchronous: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        _use_wal(conn, timeout)
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except sqlite3.DatabaseError as exc:
        raise _store_error(path, "open", exc) from None
    return conn


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL. SQLite answers "database is locked" at once, without waiting, when another
    process is creating the same new file: wait for it here, as for any other lock."""
    deadline, pause = time.monotonic() + timeout, 0.001
    while True:
        try:
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked (switching to WAL)")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _store_error(path: str, what: str, exc: sqlite3.DatabaseError) -> StoreError:
    found = f"{type(exc).__name__}: {exc}"
    if "locked" in str(exc) or "busy" in str(exc):
        return StoreError(f"cannot {what} the checkpoint store {path}: another process kept it locked too long",
                          found=found, fix="retry when the other process (often `plait gc`, which rewrites the "
                                           "file) is done, or open the store with a longer timeout=")
    if "not a database" in str(exc):
        return StoreError(f"cannot {what} the checkpoint store {path}: it is not an SQLite database, or its "
                          "first page is damaged", found=found,
                          fix="point store= (or --store, or $PLAIT_STORE) at the store your runs wrote or at a "
                              "new file; if this is that store, restore it from a copy")
    if "malformed" in str(exc) or "corrupt" in str(exc):
        return StoreError(f"cannot {what} the checkpoint store {path}: the file is damaged", found=found,
                          fix="restore the store from a copy, or point store= at a new file and rerun; "
                              "`sqlite3 FILE .recover` may salvage what is left")
    return StoreError(f"cannot {what} the checkpoint store {path}", found=found,
                      fix="if the file is damaged or not a plait store, point store= at a new file")

"""The SQLite checkpoint store: one file, WAL mode; a node's records in one transaction, which the
executor's writer thread (group.py) shares with the other nodes that finished with it.

Durability: by default a committed node survives the process being killed (WAL with
``synchronous=NORMAL``: the commit is in the OS's hands before ``record`` returns), not a power
cut. With ``durability="power"`` every commit is also fsynced (``synchronous=FULL``), surviving
power loss at the cost of a disk flush per transaction.

Concurrency: any number of processes may write different runs to one file. Writes take SQLite's
write lock up front (``BEGIN IMMEDIATE``) and wait for it up to ``timeout`` seconds; a lease
(see ``lease.py``) keeps two processes from running the same run. Reads go through a second
connection of their own, so that they never wait for a write transaction of the writer thread. The schema, its migrations,
opening the file and the checks on damaged files are in ``sqlite_schema.py``; the SQL of every
store method, shared with the PostgreSQL store, in ``sql_store.py``.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from plait.checkpoints import sqlite_schema as schema
from plait.checkpoints.batch_rows import Insert, insert_chunked
from plait.checkpoints.check import StoreCheck, run_checks
from plait.checkpoints.sql_store import SQLStore
from plait.errors import SettingError

SCHEMA_VERSION = schema.SCHEMA_VERSION
APP_ID = schema.APP_ID
T = TypeVar("T")


class SQLiteStore(SQLStore):
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
            # reads on a connection of their own: in WAL mode they never wait for the writer thread's
            # transaction (an in-memory database has one connection only: reads take the writer's lock)
            alone = self.path == ":memory:" or self.path.startswith("file:")
            self._reader = self._conn if alone else schema.connect(self.path, timeout, "NORMAL", create=False)
            self._read_lock = self._lock if alone else threading.Lock()
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

    # --- the connections: what SQLStore runs its SQL on -----------------------------------------
    def _transact(self, work: Callable[[sqlite3.Connection], T], *, commit: bool = True) -> T:
        with self._write(commit):
            return work(self._conn)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._guard("read", self._read_lock):
            return self._reader.execute(sql, args).fetchall()

    def _insert(self, tx: Any, insert: Insert, rows: list[tuple]) -> None:
        """A writer's batch in few statements, not one step per row (batch_rows.py says why)."""
        insert_chunked(tx, insert, rows)

    # --- maintenance ----------------------------------------------------------------------------
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
        self._close_writer()
        with self._lock, self._read_lock:
            self._conn.close()
            self._reader.close()

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
    def _guard(self, what: str, lock: Any = None):
        with lock or self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                raise schema.store_error(self.path, what, exc) from None

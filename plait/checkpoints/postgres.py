"""The PostgreSQL checkpoint store: one database shared by every process and machine of a run.

Same tables, meaning and SQL as the SQLite store (sql_store.py): content-addressed values stored
once, the journal, the cache, runs, items, plans, leases and questions; a node's records in one
transaction (with the other nodes' that finished with it: group.py). The schema is versioned and migrated in place (postgres_schema.py).

Connections come from a psycopg 3 pool. A connection lost mid-transaction (the server restarted,
the backend was terminated, the network dropped) rolls the transaction back on the server, so a node
is never half-recorded; the store then runs the whole transaction again on a fresh connection,
waiting for the server up to ``timeout`` seconds before it raises StoreError. Every write is safe
to repeat: a value or cache entry is stored once, an 'ok' journal row is final.

Leases hold across machines: every lease decision about a run takes a transaction-level advisory
lock on it, and expiry is judged by the server's clock. ``record(owner=...)`` checks the holder
under that lock, in the same transaction as the write.

The URL's password is used to connect and nowhere else: ``store.path`` and every message show
``postgresql://user:***@host/db``. Prefer leaving it out of the URL: libpq reads ``$PGPASSWORD``
and ``~/.pgpass``.

Example::

    store = PostgresStore("postgresql://plait@db.internal/plait")
    store = PostgresStore("postgresql://me@/runs?host=/var/run/postgresql")   # a Unix socket
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from typing import Any, Callable, Sequence, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolClosed

from plait.checkpoints import postgres_schema as schema
from plait.checkpoints import sqlite_schema
from plait.checkpoints.check import StoreCheck, checked, references, tables, values
from plait.checkpoints.sql_store import SQLStore
from plait.checkpoints.urls import HIDDEN, redact
from plait.errors import StoreError

T = TypeVar("T")
_LOST = (psycopg.OperationalError, psycopg.InterfaceError)  # the server or the connection went away
POOL_NAME = "plait-store"
log = logging.getLogger("plait")


def _not_our_pool(record: logging.LogRecord) -> bool:
    """psycopg's pool logs every failed connection attempt; plait says once that it waits, instead."""
    return f"'{POOL_NAME}'" not in record.getMessage()


logging.getLogger("psycopg.pool").addFilter(_not_our_pool)


class PostgresStore(SQLStore):
    """A checkpoint store in a PostgreSQL database (its tables created if missing).

    ``timeout``: how long an operation waits for an unreachable server before it raises;
    ``pool_size``: connections kept open at most (a run uses two: its records and its lease)."""

    def __init__(self, url: str, *, timeout: float = 60.0, pool_size: int = 4, create: bool = True) -> None:
        self.path = redact(url)
        self.timeout = timeout
        self._url, self._secrets = url, _passwords(url)
        self._connect = {"autocommit": True, "options": f"-c search_path={schema.SCHEMA}", "connect_timeout": 10}
        self._prepare(create)
        # No check on checkout (it would cost a round trip per operation): a connection the server
        # dropped fails its transaction's first statement, the pool replaces it, and the transaction
        # runs again on another. reconnect_timeout=0: the pool does not retry connecting on its own
        # schedule (backing off to minutes); _retrying asks again, at most a second apart.
        self._pool = ConnectionPool(url, kwargs=self._connect, min_size=1, max_size=pool_size, open=True,
                                    reconnect_timeout=0, name=POOL_NAME)
        # a store nobody closed closes its pool when it is collected (or at exit), from this side:
        # the pool's own __del__ may run in its worker thread, which cannot join itself
        self._close_pool = weakref.finalize(self, self._pool.close)

    def __repr__(self) -> str:
        return f"PostgresStore({self.path!r})"

    def _prepare(self, create: bool) -> None:
        """Check (create, migrate) the schema on a connection of its own: a wrong URL, a server that
        is down or a database that is not a plait store is reported at once, with the server's words."""
        try:
            with psycopg.connect(self._url, **self._connect) as conn, conn.transaction():
                schema.prepare(_Tx(conn), self.path, create=create)
        except psycopg.Error as exc:
            raise self._error("open", exc, fix="check the URL (user, host or ?host=/socket/dir, port, database) and "
                                               "that the server runs and lets this user in") from None

    # --- the connection: what SQLStore runs its SQL on ------------------------------------------
    def _transact(self, work: Callable[[Any], T], *, commit: bool = True) -> T:
        def attempt(conn: psycopg.Connection) -> T:
            with conn.transaction(force_rollback=not commit):
                return work(_Tx(conn))

        return self._retrying("write", attempt)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return self._retrying("read", lambda conn: conn.execute(_dialect(sql), args).fetchall())

    def _lock_run(self, tx: Any, run_id: str) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (schema.LOCKS, run_id))

    def _clock(self, tx: Any) -> float:
        return tx.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8").fetchone()[0]

    def _retrying(self, what: str, use: Callable[[psycopg.Connection], T]) -> T:
        """``use(conn)`` on a pooled connection; while the server is unreachable, run it again on a
        checked connection, backing off, for up to ``timeout`` seconds, then StoreError."""
        deadline, pause = time.monotonic() + self.timeout, 0.0
        while True:
            try:
                with self._pool.connection(timeout=min(1.0, max(0.05, deadline - time.monotonic()))) as conn:
                    return use(conn)
            except PoolClosed as exc:
                raise self._error(what, exc, fix="open the store again: this one was closed") from None
            except _LOST as exc:
                if time.monotonic() >= deadline:
                    raise self._error(what, self._why_unreachable(exc),
                                      fix=_FIX_UNREACHABLE.format(self.timeout)) from None
                if pause == 0.05:  # the second failure in a row: say so, once
                    log.warning("plait: lost the store %s (%s); retrying for up to %.0f s", self.path,
                                self._scrub(_first_line(exc)), self.timeout)
            except psycopg.Error as exc:
                raise self._error(what, exc, fix="if the database is damaged or not a plait store, point "
                                                 "store= at another database") from None
            time.sleep(pause)
            pause = min(max(pause * 2, 0.05), 1.0)
            self._pool.check()  # drop the connections the server closed while they sat in the pool

    def _why_unreachable(self, exc: psycopg.Error) -> psycopg.Error:
        """The server's own words, from one more connection attempt (the pool only says it timed out)."""
        try:
            psycopg.connect(self._url, **{**self._connect, "connect_timeout": 2}).close()
        except psycopg.Error as reason:
            return reason
        return exc

    def _error(self, what: str, exc: psycopg.Error, *, fix: str) -> StoreError:
        found = self._scrub(f"{type(exc).__name__}: {str(exc).strip()}")
        return StoreError(f"cannot {what} the checkpoint store {self.path}", found=found, fix=fix)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:  # libpq may quote the connection string back
            text = text.replace(secret, HIDDEN)
        return text

    # --- maintenance ----------------------------------------------------------------------------
    def check(self, *, full: bool = False) -> StoreCheck:
        """``plait check`` on the server (check.py): the schema, the references between tables and
        every value, each in a read-only transaction. Not the pages: the server keeps those (its
        amcheck extension checks them), so ``full`` adds nothing here."""
        shell = f"psql '{self.path}' -c 'SET search_path TO {schema.SCHEMA}' -c "
        steps: dict[str, Callable[[Any, StoreCheck], None]] = {
            "pages": lambda tx, report: report.checked.append(f"pages: {_PAGES}"),
            "schema": self._check_schema,
            "references": lambda tx, report: references(_reader(tx), report, shell, "'\\x{}'"),
            "values": lambda tx, report: values(_reader(tx), report)}
        return checked(self.path, {name: self._read_only(step) for name, step in steps.items()})

    def _check_schema(self, tx: Any, report: StoreCheck) -> None:
        version = schema.stored_version(tx, self.path) or 0
        tables(_reader(tx), report, (version, schema.SCHEMA_VERSION), sqlite_schema.expected_columns(),
               schema.columns(tx))

    def _read_only(self, step: Callable[[Any, StoreCheck], None]) -> Callable[[StoreCheck], None]:
        return lambda report: self._transact(lambda tx: step(tx, report), commit=False)

    def vacuum(self) -> int:
        """Give the space of deleted rows back (plain VACUUM: other runs keep writing meanwhile);
        returns the bytes plait's tables shrank by (0 when a first VACUUM's maps outweigh it)."""
        before = self.size_bytes()
        tables = ", ".join(("plans", "blobs", "runs", "items", "journal", "cache", "leases", "asks"))
        self._retrying("vacuum", lambda conn: conn.execute(f"VACUUM {tables}"))
        return max(0, before - self.size_bytes())

    def size_bytes(self) -> int:
        """The bytes plait's tables take, their indexes and TOAST included."""
        rows = self._query("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c"
                           " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname=? AND c.relkind='r'",
                           (schema.SCHEMA,))
        return int(rows[0][0])

    def close(self) -> None:
        self._close_writer()
        self._close_pool()


_FIX_UNREACHABLE = ("start (or restart) the server, or check the network and the URL; nothing half-recorded "
                    "is kept, so resume the run once the server answers (`plait resume RUN`), or open the store "
                    "with a timeout longer than {:.0f} s")


_PAGES = "kept by the PostgreSQL server, not checked here (its amcheck extension, pg_amcheck, checks them)"


def _reader(tx: Any) -> Callable[..., list[tuple]]:
    return lambda sql, args=(): tx.execute(sql, args).fetchall()


class _Tx:
    """A transaction's connection, taking the shared SQL (``?`` marks) to psycopg (``%s``)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor:
        return self._conn.execute(_dialect(sql), args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> psycopg.Cursor:
        cursor = self._conn.cursor()
        cursor.executemany(_dialect(sql), rows)
        return cursor


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@functools.lru_cache(maxsize=256)
def _dialect(sql: str) -> str:
    # the shared SQL has no '?' or '%' but as parameter marks (no LIKE patterns, no '?' in literals)
    return sql.replace("?", "%s")


def _passwords(url: str) -> list[str]:
    """The password in ``url`` (userinfo or ``password=``), as written and decoded."""
    parts = urlsplit(url)
    found = [parts.password or ""] + [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    return sorted({s for p in found if p for s in (p, unquote(p))}, key=len, reverse=True)

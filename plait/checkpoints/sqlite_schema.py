"""The SQLite store's schema, its migrations, and opening its file: the connection, WAL mode, and
the checks that refuse files plait cannot trust.

Version history (``meta.schema_version``):
  1  meta, plans, blobs, runs, items, journal, cache
  2  + leases (one process runs a run at a time); plans.saved_at (gc spares plans just saved)
  3  + asks (questions to people, their deadlines and answers; see asks.py)
  4  + journal.replay_key (a recorded output replays whichever LM produced it; NULL in older rows)
  5  journal and cache rebuilt WITHOUT ROWID: each row lives in its primary key's b-tree,
     not in a table plus an index holding the key a second time (a third smaller store)
  6  + journal.requests, answered, prompt_tokens, completion_tokens, cost: every LM request a row
     adds, answered or not, with the tokens and cost of every reply (checkpoints/spend.py). Older
     rows are filled from what they kept: requests = attempts of LM rows, answered = requests of
     those with a value, tokens and cost from ``usage`` (the replies of a failed node were not kept)
  7  a smaller store (4.4 KB -> 2.2 KB per item of bench/bench_peers.py's workload): every hash
     and key (blobs.hash, items.input_hash, journal.content_key, value_hash, replay_key, cache's two)
     stored as its 32 bytes, not 64 hex characters; a journal row's usual ``usage`` as ``"p,c,cost"``
     instead of its JSON (layout.py converts both at the store's boundary); blobs and items rebuilt
     WITHOUT ROWID too, so no index repeats their keys (a large value spills to overflow pages as
     before). Every row is converted in place
  8  journal and items key their rows by the run's number (runs.run_no, the table's INTEGER PRIMARY
     KEY, AUTOINCREMENT: never given twice), not by the run id's text (2.2 KB -> ~2.0 KB per item;
     run_numbers.py translates at the store's boundary). Rows of a run that no longer exists keep a
     negative number. Every row is kept

A store is migrated in place, in one transaction, the first time a newer plait opens it; an older
plait then refuses it with "written by a newer plait". A file that is not a plait store, from a
newer schema, or whose write-ahead log went missing raises :class:`StoreError`; nothing is read as
empty. Only a store opened with ``create=True`` (a new run) is created: from a missing file, or an
empty one (0 bytes, or an SQLite database with no tables). Every other open (resume, rerun, answer,
reading commands) refuses those too, and leaves the file as it was.
"""

from __future__ import annotations

import os
import re
import sqlite3
import struct
import time
from pathlib import Path

from plait.checkpoints import versions
from plait.checkpoints.layout import key_bytes, usage_dict, usage_text
from plait.checkpoints.versions import APP_ID, statements
from plait.errors import StoreError

SCHEMA_VERSION = 8
# The commit that takes the write-ahead log past this many pages also copies it into the file and
# syncs both (10-20 ms instead of ~1), while every node in flight waits for that commit. A writer's
# batch adds ~70 pages, many of them pages an earlier batch wrote (values and cache entries land on
# random leaves), so SQLite's default of 1,000 copied and synced every ~15th commit; at 10,000 (a
# log of up to 40 MB while the store is open) a 2,000-item run's commits plus its last copy take 12%
# less time, the same CPU.
CHECKPOINT_PAGES = 10_000
WITHOUT_ROWID = ("journal", "cache")  # schema 5: small rows every recorded node writes (rebuilt by _rebuild)

_V1 = """
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

# Schema 7: the columns that hold a hash or key, per table; each of these tables is WITHOUT ROWID.
_V7_KEYS = {"blobs": ("hash",), "items": ("input_hash",), "journal": ("content_key", "value_hash", "replay_key"),
            "cache": ("content_key", "value_hash")}


def v7_layout(tx: sqlite3.Connection) -> None:
    """Rebuild _V7_KEYS's tables with their keys as bytes and usage compact (layout.py), every row kept."""
    tx.create_function("plait_key", 1, key_bytes, deterministic=True)
    tx.create_function("plait_usage", 1, lambda text: usage_text(usage_dict(text)), deterministic=True)
    for table, keys in _V7_KEYS.items():
        _rebuild(tx, table, keys)


def _rebuild(tx: sqlite3.Connection, table: str, keys: tuple[str, ...]) -> None:
    """Rebuild ``table`` WITHOUT ROWID, its ``keys`` columns BLOBs converted by plait_key and its usage
    by plait_usage (when given keys), every other column as it is now."""
    (sql,) = tx.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
    names = [r[0] for r in tx.execute("SELECT name FROM pragma_table_info(?)", (table,))]
    for key in keys:
        sql = re.sub(rf"\b{key} TEXT\b", f"{key} BLOB", sql)
    sql += "" if "WITHOUT ROWID" in sql.upper() else " WITHOUT ROWID"
    converted = [f"plait_key({n})" if n in keys else f"plait_usage({n})" if n == "usage" and keys else n for n in names]
    tx.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    tx.execute(sql)
    tx.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(converted)} FROM {table}_old")
    tx.execute(f"DROP TABLE {table}_old")


# Schema 8: runs numbered; journal and items keyed by that number (run_numbers.py).
_V8_RUNS = """CREATE TABLE runs (
    run_id TEXT NOT NULL UNIQUE, plan_hash TEXT NOT NULL, parent_run TEXT, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, config TEXT NOT NULL,
    run_no INTEGER PRIMARY KEY AUTOINCREMENT)"""
_RUN_COLUMNS = "run_id, plan_hash, parent_run, status, created_at, updated_at, config"
# The number of every run id the rows name: a run's own, or a negative one for a run that is gone.
_V8_NUMBERS = """CREATE TEMP TABLE plait_run_nos AS SELECT run_id, run_no FROM runs
    UNION ALL SELECT run_id, -ROW_NUMBER() OVER (ORDER BY run_id)
    FROM (SELECT run_id FROM items UNION SELECT run_id FROM journal) WHERE run_id NOT IN (SELECT run_id FROM runs)"""


def v8_run_numbers(tx: sqlite3.Connection) -> None:
    """Number the runs (oldest first), then rebuild journal and items keyed by those numbers."""
    tx.execute("ALTER TABLE runs RENAME TO runs_old")
    tx.execute(_V8_RUNS)
    tx.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) SELECT {_RUN_COLUMNS} FROM runs_old ORDER BY created_at, run_id")
    tx.execute("DROP TABLE runs_old")
    tx.execute(_V8_NUMBERS)
    for table in ("items", "journal"):
        _renumber(tx, table)
    tx.execute("DROP TABLE plait_run_nos")


def _renumber(tx: sqlite3.Connection, table: str) -> None:
    """Rebuild ``table`` with ``run_no INTEGER`` in place of ``run_id TEXT``, in its key too."""
    (sql,) = tx.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
    new_sql = re.sub(r"\brun_id TEXT NOT NULL\b", "run_no INTEGER NOT NULL", sql)
    new_sql = re.sub(r"PRIMARY KEY \(run_id,", "PRIMARY KEY (run_no,", new_sql)  # else the INSERT fails: rolled back
    names = [r[0] for r in tx.execute("SELECT name FROM pragma_table_info(?)", (table,))]
    target = ", ".join("run_no" if n == "run_id" else n for n in names)
    source = ", ".join("n.run_no" if n == "run_id" else f"o.{n}" for n in names)
    tx.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    tx.execute(new_sql)
    tx.execute(f"INSERT INTO {table} ({target}) SELECT {source} FROM {table}_old o"
               f" JOIN plait_run_nos n ON n.run_id = o.run_id")
    tx.execute(f"DROP TABLE {table}_old")


# MIGRATIONS[v]: what takes a version-v store to version v + 1 (versions.py: SQL, or a function).
MIGRATIONS: dict[int, versions.Migration] = {
    1: """
    CREATE TABLE leases (
        run_id TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
        acquired_at REAL NOT NULL, expires_at REAL NOT NULL);
    ALTER TABLE plans ADD COLUMN saved_at REAL NOT NULL DEFAULT 0;
    """,
    2: """
    CREATE TABLE asks (
        run_id TEXT NOT NULL, item_id TEXT NOT NULL, node_id TEXT NOT NULL, iteration INTEGER NOT NULL,
        ask_index INTEGER NOT NULL, question TEXT NOT NULL, context TEXT NOT NULL, fields TEXT NOT NULL,
        deadline REAL, default_answer TEXT, asked_at REAL NOT NULL,
        answer TEXT, answered_at REAL, answered_by TEXT,
        PRIMARY KEY (run_id, item_id, node_id, iteration, ask_index));
    """,
    3: """
    ALTER TABLE journal ADD COLUMN replay_key TEXT;
    """,
    4: lambda tx: [_rebuild(tx, table, keys=()) for table in WITHOUT_ROWID],
    5: """
    ALTER TABLE journal ADD COLUMN requests INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE journal ADD COLUMN answered INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE journal ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE journal ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE journal ADD COLUMN cost REAL;
    UPDATE journal SET requests = attempts,
        answered = CASE WHEN value_hash IS NOT NULL AND status IN ('ok', 'proposed') THEN attempts ELSE 0 END,
        prompt_tokens = COALESCE(json_extract(usage, '$.prompt_tokens'), 0),
        completion_tokens = COALESCE(json_extract(usage, '$.completion_tokens'), 0),
        cost = json_extract(usage, '$.cost')
    WHERE source = 'lm';
    """,
    6: v7_layout,
    7: v8_run_numbers,
}

_FIX_NEW_FILE = "point store= (or --store, or $PLAIT_STORE) at a new file or a plait store"
_FIX_EXISTING = ("point store= (or --store, or $PLAIT_STORE) at the store your runs wrote; only a new run "
                 "(compiled.run, `plait run`) creates a store")


def create(conn: sqlite3.Connection) -> None:
    """A new store at the current version (inside the caller's transaction)."""
    for stmt in statements(_V1):
        conn.execute(stmt)
    conn.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", [("app", APP_ID), ("schema_version", "1")])
    migrate(conn, 1)


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a store from ``version`` to SCHEMA_VERSION (inside the caller's transaction)."""
    versions.migrate(conn, MIGRATIONS, version, SCHEMA_VERSION)


def expected_columns(version: int = SCHEMA_VERSION) -> dict[str, list[str]]:
    """Table -> column names of a store at ``version``, read from one built in memory by the
    statements above (so this never disagrees with what ``create`` and ``migrate`` make)."""
    conn = sqlite3.connect(":memory:")
    try:
        for stmt in statements(_V1):
            conn.execute(stmt)
        for v in range(1, version):
            versions.apply(conn, MIGRATIONS[v])
        return columns(conn)
    finally:
        conn.close()


def columns(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Table -> column names, for every table of the database but SQLite's own."""
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    return {t: [r[0] for r in conn.execute("SELECT name FROM pragma_table_info(?)", (t,))] for t in tables}


def stored_version(conn: sqlite3.Connection, path: str) -> int | None:
    """The store's schema version, None for an empty database; raises for anything else."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return None
    if "meta" not in tables:
        raise StoreError(f"{path} is an SQLite database but not a plait store",
                         found=f"tables {sorted(tables)}", fix=_FIX_NEW_FILE)
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    return versions.checked_version(meta, path, SCHEMA_VERSION, _FIX_NEW_FILE)


def check_file(path: str, *, create: bool) -> None:
    """Refuse, before SQLite opens it, a missing or empty store (unless creating) and a store whose
    write-ahead log is missing while its index says it held commits not yet in the main file."""
    if path == ":memory:" or path.startswith("file:"):
        return
    if not os.path.exists(path):
        if not create:
            raise StoreError(f"no plait store at {path}", found="no such file", fix=_FIX_EXISTING)
        return
    if not create and os.path.getsize(path) == 0 and not os.path.exists(path + "-wal"):
        raise not_a_store(path, found="a file of 0 bytes")
    frames = _lost_wal_frames(path)
    if frames:  # look again: a closing process deletes -wal, then -shm (after a full checkpoint)
        time.sleep(0.2)
        frames = _lost_wal_frames(path)
    if frames:
        raise StoreError(
            f"the write-ahead log {path}-wal is missing: the store's last {frames} committed pages are gone",
            expected=f"{os.path.basename(path)}-wal next to {os.path.basename(path)}",
            found=f"{os.path.basename(path)}-shm records {frames} pages not yet copied into the main file",
            fix=f"restore {path}-wal (copy a store's .db, -wal and -shm files together, or copy it while no "
                f"process uses it); to accept the store as of its last checkpoint instead, delete {path}-shm")


def not_a_store(path: str, found: str = "an SQLite database with no tables") -> StoreError:
    """Opening a store that must exist found an empty file or database: it is never initialised."""
    return StoreError(f"{path} is empty, not a plait store", found=found, fix=_FIX_EXISTING)


def _lost_wal_frames(path: str) -> int:
    """Frames the -shm index says are in the WAL but not yet in the main file, when -wal is gone."""
    if os.path.exists(path + "-wal"):
        return 0
    try:
        with open(path + "-shm", "rb") as f:
            header = f.read(100)
    except OSError:
        return 0
    if len(header) < 100:
        return 0
    # WalIndexHdr (native byte order): iVersion, unused, iChange, isInit, bigEndCksum, szPage, mxFrame;
    # WalCkptInfo.nBackfill follows the header's two 48-byte copies.
    version, _, _, is_init, _, _, max_frame = struct.unpack_from("=IIIBBHI", header, 0)
    (backfilled,) = struct.unpack_from("=I", header, 96)
    if version != 3007000 or not is_init:
        return 0
    return max(0, max_frame - backfilled)


def connect(path: str, timeout: float, synchronous: str, create: bool) -> sqlite3.Connection:
    """A connection in WAL mode. The file is read before anything is written to it: a foreign
    file is refused unchanged; and without ``create``, SQLite itself may not create a missing file
    (``mode=rw``) and a database with no plait tables is refused, not initialised."""
    try:
        conn = sqlite3.connect(_address(path, create), timeout=timeout, isolation_level=None,
                               check_same_thread=False, uri=True)
    except sqlite3.DatabaseError as exc:
        raise store_error(path, "open", exc) from None
    try:
        if stored_version(conn, path) is None and not create:
            raise not_a_store(path)
        _use_wal(conn, timeout)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise store_error(path, "open", exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _address(path: str, create: bool) -> str:
    """What sqlite3.connect opens: the path as a URI, read-write and never created unless ``create``."""
    if path == ":memory:" or path.startswith("file:"):
        return path
    uri = Path(path).absolute().as_uri()
    return uri if create else uri + "?mode=rw"


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


def store_error(path: str, what: str, exc: sqlite3.DatabaseError) -> StoreError:
    """SQLite's error on ``path`` as a StoreError saying what is wrong with the file and the fix."""
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

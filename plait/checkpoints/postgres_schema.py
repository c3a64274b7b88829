"""The PostgreSQL store's schema and its migrations.

The tables are the SQLite store's (sqlite_schema.py at its current version), with PostgreSQL's
types: ``bytea`` for values, ``double precision`` for Unix times. They live in their own schema,
``plait``, so that a database shared with other applications keeps them apart; every connection
sets ``search_path`` to it, so the SQL the two stores share names the tables unqualified.

Version history (``plait.meta.schema_version``):
  1  meta, plans, blobs, runs, items, journal, cache, leases, asks (SQLite's schema 4, with
     journal.replay_key: no PostgreSQL store was released before it, so it needs no migration)
  2  + journal.requests, answered, prompt_tokens, completion_tokens, cost (SQLite's schema 5, filled
     in older rows the same way)
  3  every hash and key (blobs.hash, items.input_hash, journal.content_key, value_hash, replay_key,
     cache's two) a ``bytea`` of its 32 bytes instead of 64 hex characters, converted in place as
     layout.key_bytes does (SQLite's schema 7); usage is written compactly from now on (older rows
     keep their JSON, which reads back the same)
  4  runs.run_no, an identity column (never given twice); journal and items key their rows by it
     instead of the run id's text (SQLite's schema 8; run_numbers.py). Rows of a run that no longer
     exists keep a negative number; every row is kept

A store is created, or migrated in place, in one transaction under an advisory lock, so that
processes opening a new store at once create it once (versions.py has the rules they share).
"""

from __future__ import annotations

from typing import Any

from plait.checkpoints import versions
from plait.checkpoints.versions import APP_ID, statements
from plait.errors import StoreError

SCHEMA = "plait"
SCHEMA_VERSION = 4
LOCKS = 0x706C6169  # the first key of plait's advisory locks ('plai'); the second is a run's hash, or 0

_V1 = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE {SCHEMA}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE {SCHEMA}.plans (plan_hash TEXT PRIMARY KEY, plan_json TEXT NOT NULL,
    saved_at DOUBLE PRECISION NOT NULL DEFAULT 0);
CREATE TABLE {SCHEMA}.blobs (hash TEXT PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE {SCHEMA}.runs (
    run_id TEXT PRIMARY KEY, plan_hash TEXT NOT NULL, parent_run TEXT, status TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL, config TEXT NOT NULL);
CREATE TABLE {SCHEMA}.items (
    run_id TEXT NOT NULL, item_id TEXT NOT NULL, position INTEGER NOT NULL, input_hash TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, PRIMARY KEY (run_id, item_id));
CREATE TABLE {SCHEMA}.journal (
    run_id TEXT NOT NULL, item_id TEXT NOT NULL, node_id TEXT NOT NULL, iteration INTEGER NOT NULL,
    content_key TEXT NOT NULL, value_hash TEXT, status TEXT NOT NULL, source TEXT NOT NULL,
    error TEXT, lm TEXT, usage TEXT, attempts INTEGER NOT NULL, recorded_at DOUBLE PRECISION NOT NULL,
    replay_key TEXT, PRIMARY KEY (run_id, item_id, node_id, iteration));
CREATE TABLE {SCHEMA}.cache (content_key TEXT PRIMARY KEY, value_hash TEXT NOT NULL);
CREATE TABLE {SCHEMA}.leases (
    run_id TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    acquired_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
CREATE TABLE {SCHEMA}.asks (
    run_id TEXT NOT NULL, item_id TEXT NOT NULL, node_id TEXT NOT NULL, iteration INTEGER NOT NULL,
    ask_index INTEGER NOT NULL, question TEXT NOT NULL, context TEXT NOT NULL, fields TEXT NOT NULL,
    deadline DOUBLE PRECISION, default_answer TEXT, asked_at DOUBLE PRECISION NOT NULL,
    answer TEXT, answered_at DOUBLE PRECISION, answered_by TEXT,
    PRIMARY KEY (run_id, item_id, node_id, iteration, ask_index));
"""

def _to_bytes(*names: str) -> str:
    """ALTER TABLE's clauses that turn text keys into bytes (layout.key_bytes, in SQL)."""
    return ", ".join(f"ALTER COLUMN {n} TYPE BYTEA USING pg_temp.plait_key({n})" for n in names)


def _renumber(table: str, key: str) -> str:
    """The statements that key ``table`` by ``run_no`` (from plait_run_nos) instead of ``run_id``."""
    return f"""
    ALTER TABLE {table} ADD COLUMN run_no INTEGER;
    UPDATE {table} SET run_no = n.run_no FROM plait_run_nos n WHERE n.run_id = {table}.run_id;
    ALTER TABLE {table} DROP COLUMN run_id;
    ALTER TABLE {table} ALTER COLUMN run_no SET NOT NULL, ADD PRIMARY KEY ({key});
    """


# MIGRATIONS[v]: the statements that take a version-v store to version v + 1.
MIGRATIONS: dict[int, str] = {
    1: """
    ALTER TABLE journal ADD COLUMN requests INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE journal ADD COLUMN answered INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE journal ADD COLUMN prompt_tokens BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE journal ADD COLUMN completion_tokens BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE journal ADD COLUMN cost DOUBLE PRECISION;
    UPDATE journal SET requests = attempts,
        answered = CASE WHEN value_hash IS NOT NULL AND status IN ('ok', 'proposed') THEN attempts ELSE 0 END,
        prompt_tokens = COALESCE((usage::jsonb ->> 'prompt_tokens')::bigint, 0),
        completion_tokens = COALESCE((usage::jsonb ->> 'completion_tokens')::bigint, 0),
        cost = (usage::jsonb ->> 'cost')::double precision
    WHERE source = 'lm';
    """,
    2: f"""
    CREATE FUNCTION pg_temp.plait_key(k TEXT) RETURNS BYTEA IMMUTABLE STRICT LANGUAGE sql AS $$
        SELECT CASE WHEN k ~ '^[0-9a-f]{{64}}' AND left(k, 64) <> repeat('0', 64)
                THEN decode(left(k, 64), 'hex') || convert_to(substr(k, 65), 'UTF8')
            WHEN octet_length(convert_to(k, 'UTF8')) < 32 THEN convert_to(k, 'UTF8')
            ELSE decode(repeat('00', 32), 'hex') || convert_to(k, 'UTF8') END $$;
    ALTER TABLE blobs ALTER COLUMN hash TYPE BYTEA USING pg_temp.plait_key(hash);
    ALTER TABLE items ALTER COLUMN input_hash TYPE BYTEA USING pg_temp.plait_key(input_hash);
    ALTER TABLE journal {_to_bytes("content_key", "value_hash", "replay_key")};
    ALTER TABLE cache {_to_bytes("content_key", "value_hash")};
    """,
    3: f"""
    ALTER TABLE runs ADD COLUMN run_no INTEGER GENERATED BY DEFAULT AS IDENTITY UNIQUE;
    CREATE TEMP TABLE plait_run_nos ON COMMIT DROP AS SELECT run_id, run_no FROM runs
        UNION ALL SELECT run_id, -(ROW_NUMBER() OVER (ORDER BY run_id))::integer
        FROM (SELECT run_id FROM items UNION SELECT run_id FROM journal) AS named
        WHERE run_id NOT IN (SELECT run_id FROM runs);
    {_renumber("items", "run_no, item_id")}
    {_renumber("journal", "run_no, item_id, node_id, iteration")}
    DROP TABLE plait_run_nos;
    """,
}

FIX = "point store= (or --store, or $PLAIT_STORE) at a database for plait, or at an SQLite file"


def prepare(tx: Any, where: str, *, create: bool) -> None:
    """Make the store current (inside the caller's transaction): create it in an empty database,
    migrate an older one; refuse what is not a plait store, and a missing one unless ``create``."""
    tx.execute("SELECT pg_advisory_xact_lock(?, 0)", (LOCKS,))  # one process creates, the others wait
    version = stored_version(tx, where)
    if version is None and not create:
        raise StoreError(f"no plait store at {where}", found=f"no schema '{SCHEMA}' with plait's tables",
                         fix="pass --store URL (or set $PLAIT_STORE) to the store your runs wrote; "
                             "`plait run` creates one")
    if version is None:
        for stmt in statements(_V1):
            tx.execute(stmt)
        tx.execute(f"INSERT INTO {SCHEMA}.meta VALUES (?, ?), (?, ?)", ("app", APP_ID, "schema_version", "1"))
        version = 1  # a new store is made as version 1, then migrated: one path to the current schema
    if version < SCHEMA_VERSION:
        versions.migrate(tx, MIGRATIONS, version, SCHEMA_VERSION)


def stored_version(tx: Any, where: str) -> int | None:
    """The store's schema version, None when the database has no ``plait`` schema (or an empty one)."""
    tables = {r[0] for r in tx.execute("SELECT table_name FROM information_schema.tables WHERE table_schema=?",
                                       (SCHEMA,)).fetchall()}
    if not tables:
        return None
    if "meta" not in tables:
        raise StoreError(f"{where} has a schema '{SCHEMA}' that is not a plait store",
                         found=f"tables {sorted(tables)}", fix=FIX)
    meta = dict(tx.execute(f"SELECT key, value FROM {SCHEMA}.meta").fetchall())
    return versions.checked_version(meta, where, SCHEMA_VERSION, FIX)


def columns(tx: Any) -> dict[str, list[str]]:
    """Table -> column names, for every table of the ``plait`` schema."""
    found: dict[str, list[str]] = {}
    for table, column in tx.execute("SELECT table_name, column_name FROM information_schema.columns"
                                    " WHERE table_schema=? ORDER BY table_name, ordinal_position", (SCHEMA,)):
        found.setdefault(table, []).append(column)
    return found

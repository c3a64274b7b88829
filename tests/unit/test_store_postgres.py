"""What only the PostgreSQL store has to show (the contract suite covers the rest): its schema is
versioned and migrated in place; reading commands create nothing; the URL's password is used to
connect and never shown or stored; a connection lost mid-record leaves nothing half-recorded and
the record goes on, on a fresh connection; a server that stays down stops the store with the fix."""

from __future__ import annotations

import threading
import time

import pytest

import plait
from plait.checkpoints import postgres_schema
from plait.checkpoints.location import open_location
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status
from plait.hashing import sha256_hex
from tests.pg import database_of
from tests.stores import execute

pytestmark = pytest.mark.postgres
SECRET = "s3cret-Pa55"  # the session's server trusts its socket: any password connects


def _with_password(server, url: str) -> str:
    return server.url(database_of(url), password=SECRET)


def _run(store, run_id="r1"):
    store.create_run(RunRecord(run_id, store.save_plan("{}"), "running", 1.0, 1.0), [("0", b'{"q":1}')])


def test_a_store_at_an_older_version_is_migrated_in_place_and_an_older_plait_refuses_it(pg_url, monkeypatch):
    store = open_location(pg_url)
    _run(store)
    store.close()
    current = postgres_schema.SCHEMA_VERSION
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", current + 1)  # the next plait adds a table and a column
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", {**postgres_schema.MIGRATIONS, current: "CREATE TABLE notes "
                                                        "(run_id TEXT PRIMARY KEY, note TEXT); ALTER TABLE runs ADD COLUMN label TEXT"})
    store = open_location(pg_url)
    assert execute(store, "SELECT value FROM meta WHERE key='schema_version'") == [(str(current + 1),)]
    assert store.get_run("r1").status == "running" and store.run_items("r1")[0].item_id == "0"
    execute(store, "INSERT INTO notes VALUES ('r1', 'kept')")
    store.close()
    open_location(pg_url).close()  # opening a migrated store again is a no-op
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", current)  # this plait, reading it back
    with pytest.raises(plait.StoreError, match=rf"written by a newer plait \(store schema {current + 1}\)"):
        open_location(pg_url)


def test_reading_commands_create_no_store_in_an_empty_database(pg_server, pg_url):
    with pytest.raises(plait.StoreError) as err:
        open_location(pg_url, create=False)
    assert f"no plait store at {pg_url}" in str(err.value) and "--store URL" in str(err.value)
    with pytest.raises(plait.StoreError, match="no plait store at"):  # resume, answer: open_store dispatches here
        plait.resume("nope", store=pg_url)
    tables = pg_server.admin("SELECT COUNT(*) FROM pg_namespace WHERE nspname='plait'")
    assert tables == [(0,)]
    open_location(pg_url).close()
    open_location(pg_url, create=False).close()


def test_a_plait_schema_of_another_application_is_refused(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA plait; CREATE TABLE plait.users (id INTEGER)")
    with pytest.raises(plait.StoreError, match="has a schema 'plait' that is not a plait store"):
        open_location(pg_url)


def test_the_password_connects_and_is_never_shown_or_stored(pg_server, pg_url):
    from tests.programs import Chain4

    url = _with_password(pg_server, pg_url)
    run = plait.compile(Chain4()).run([{"question": "q"}], store=url, lm=plait.ScriptedLM(_answer), progress=False)
    store = open_location(url)
    shown = [store.path, repr(store), run.store, repr(run)]
    with pytest.raises(plait.RunNotFound) as err:
        store.get_run("nope")
    shown.append(str(err.value))
    assert all(SECRET not in text for text in shown) and f"plait:***@/{database_of(url)}" in store.path
    for table in ("meta", "plans", "blobs", "runs", "items", "journal", "cache", "leases", "asks"):
        rows = execute(store, f"SELECT CAST(t AS TEXT) FROM {table} t")
        assert not any(SECRET in row[0] for row in rows), table
    assert run.status == "done"


def _answer(task) -> dict[str, str]:
    return {name: f"{name} of {task.node_id}" for name in task.output_fields}


def test_a_server_that_is_not_there_is_reported_at_once(pg_server, tmp_path):  # pg_server: psycopg is here
    url = f"postgresql://plait:{SECRET}@/nowhere?host={tmp_path}"
    started = time.monotonic()
    with pytest.raises(plait.StoreError) as err:
        open_location(url)
    message = str(err.value)
    assert time.monotonic() - started < 5 and SECRET not in message
    assert f"cannot open the checkpoint store postgresql://plait:***@/nowhere?host={tmp_path}" in message
    assert "check the URL" in message and "found:" in message


def test_a_connection_lost_mid_record_leaves_nothing_and_the_record_goes_on(pg_server, pg_url, monkeypatch):
    import psycopg  # here, not above: without it the pg_url fixture skips (or fails under $CI) first

    from plait.checkpoints import postgres

    store = open_location(pg_url)
    _run(store)
    store.acquire_lease("r1", "me", ttl=60)
    data = b'{"answer": "x"}'
    row = JournalRow(run_id="r1", item_id="0", node_id="n", content_key="k1", value_hash=sha256_hex(data),
                     status=Status.OK, source=Source.LM)
    kept_of_the_lost_transaction: list = []
    execute_sql, execute_many = postgres._Tx.execute, postgres._Tx.executemany

    def lose_the_connection_after_the_journal_row(tx, sql):
        if "INSERT INTO journal" in sql and not kept_of_the_lost_transaction:
            (pid,) = execute_sql(tx, "SELECT pg_backend_pid()").fetchone()
            pg_server.admin("SELECT pg_terminate_backend(%s)", pid)
            _wait(lambda: not pg_server.admin("SELECT 1 FROM pg_stat_activity WHERE pid=%s", pid))
            with psycopg.connect(pg_url) as other:  # what another process sees now: none of it
                kept_of_the_lost_transaction.append(other.execute(
                    "SELECT (SELECT COUNT(*) FROM plait.journal), (SELECT COUNT(*) FROM plait.blobs WHERE hash=%s)",
                    (row.value_hash,)).fetchone())

    def execute(tx, sql, args=()):
        cursor = execute_sql(tx, sql, args)
        lose_the_connection_after_the_journal_row(tx, sql)
        return cursor

    def executemany(tx, sql, rows):  # the store writes a batch's journal rows in one executemany
        cursor = execute_many(tx, sql, rows)
        lose_the_connection_after_the_journal_row(tx, sql)
        return cursor

    monkeypatch.setattr(postgres._Tx, "execute", execute)
    monkeypatch.setattr(postgres._Tx, "executemany", executemany)
    store.record(row, data, cache=True, item_status="done", owner="me")
    monkeypatch.undo()
    assert kept_of_the_lost_transaction == [(0, 0)]  # the value and the journal row were rolled back
    recorded = store.journal("r1")[("0", "n", 0)]  # then the whole record ran again, once
    assert recorded.value_hash == row.value_hash and recorded.attempts == 1
    assert store.lookup("k1") == row.value_hash and store.read_value(row.value_hash) == data
    assert store.run_items("r1")[0].status == "done"


def test_a_store_waits_for_a_restarting_server_then_goes_on(pg_server, pg_url):
    from plait.checkpoints.postgres import PostgresStore

    store = PostgresStore(_with_password(pg_server, pg_url), timeout=30)
    _run(store)
    pg_server.stop()
    back = threading.Timer(1.0, pg_server.start)
    back.start()
    try:
        started = time.monotonic()
        store.set_run("r1", status="done")  # waits for the server, on a fresh connection
        assert time.monotonic() - started >= 0.5
    finally:
        back.join()
    assert store.get_run("r1").status == "done"


def test_a_server_down_longer_than_the_timeout_stops_the_store_with_the_fix(pg_server, pg_url):
    from plait.checkpoints.postgres import PostgresStore

    store = PostgresStore(_with_password(pg_server, pg_url), timeout=1.0)
    _run(store)
    pg_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(plait.StoreError) as err:
            store.set_run("r1", status="done")
        waited = time.monotonic() - started
    finally:
        pg_server.start()
    message = str(err.value)
    assert 1.0 <= waited < 10 and SECRET not in message
    assert f"cannot write the checkpoint store postgresql://plait:***@/{database_of(pg_url)}" in message
    assert "start (or restart) the server" in message and "plait resume" in message
    assert store.get_run("r1").status == "running"  # and once it is back, the store works again


def _wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)

"""What the store contract tests share: fresh stores of each kind, and raw SQL on any of them.

A test that takes ``store_url`` (or ``new_store_url``) runs once per kind of store: ``sqlite`` (a
new file under the test's tmp dir) and ``postgres`` (a new database on the session's server, see
tests/pg.py). Its body is the same for both: it opens the store with ``open_location``.
"""

from __future__ import annotations

from typing import Any

import pytest

from plait.checkpoints.location import open_location

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def new_store_url(store_kind, tmp_path, request):
    """Makes new, empty store locations of this test's kind: a file path, or a database URL."""
    made: list[str] = []
    server = request.getfixturevalue("pg_server") if store_kind == "postgres" else None

    def make() -> str:
        made.append(server.new_database() if server else str(tmp_path / f"store-{len(made)}.db"))
        return made[-1]

    yield make
    for url in made if server else ():
        server.drop_database(url)


@pytest.fixture
def store_url(new_store_url) -> str:
    return new_store_url()


@pytest.fixture
def store(store_url):
    opened = open_location(store_url)
    yield opened
    opened.close()


def execute(store: Any, sql: str, *args: Any) -> list[tuple]:
    """Run one SQL statement (``?`` marks, the SQL both stores share) on ``store`` in its own
    transaction, as a test that plays another process or damages a store does; its rows, if any."""
    def work(tx: Any) -> list[tuple]:
        cursor = tx.execute(sql, args)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    return store._transact(work)


def run_id_rows(conn: Any, table: str) -> tuple[list[str], list[list[Any]]]:
    """``table``'s column names and rows on an SQLite connection, laid out as before store schema 8:
    a run's id where journal and items hold its number, and runs without its number column."""
    ids = dict(conn.execute("SELECT run_no, run_id FROM runs"))
    cursor = conn.execute(f"SELECT * FROM {table}")
    names, rows = [d[0] for d in cursor.description], [list(r) for r in cursor]
    if "run_no" not in names:
        return names, rows
    at = names.index("run_no")
    if table == "runs":
        return names[:at] + names[at + 1:], [r[:at] + r[at + 1:] for r in rows]
    names[at] = "run_id"
    return names, [r[:at] + [ids[r[at]]] + r[at + 1:] for r in rows]

"""The schema version every plait store keeps in its ``meta`` table, checked and migrated the same
way whatever the database: ``meta`` holds ``app = plait`` and ``schema_version = N``; a store at an
older version is migrated in place, in one transaction, by the statements ``MIGRATIONS[v]`` that
take version v to v + 1; a store from a newer plait is refused, never read as something else.
"""

from __future__ import annotations

from typing import Any, Callable, Union

from plait.errors import StoreError

APP_ID = "plait"


def checked_version(meta: dict[str, str], where: str, current: int, fix: str) -> int:
    """The version ``meta`` records; raises StoreError for another app's table, a newer plait's
    store or a version that is not a number. ``fix`` says where to point store= instead."""
    if meta.get("app") != APP_ID:
        raise StoreError(f"{where} is not a plait store", found=f"meta {meta}", fix=fix)
    try:
        version = int(meta.get("schema_version", -1))
    except ValueError:
        version = -1
    if version > current:
        raise StoreError(f"{where} was written by a newer plait (store schema {version})",
                         expected=f"schema {current} or older", found=f"schema {version}",
                         fix="upgrade plait to read this store, or use another store")
    if version < 1:
        raise StoreError(f"{where} has an invalid schema version", found=repr(meta.get("schema_version")),
                         fix="the store is damaged; point store= at a new store")
    return version


# A migration is SQL statements, or a function of the transaction for what SQL alone cannot say
# (SQLite rebuilding a table under another layout).
Migration = Union[str, Callable[[Any], None]]


def statements(script: str) -> list[str]:
    return [s for s in script.split(";") if s.strip()]


def apply(tx: Any, migration: Migration) -> None:
    """One migration step, inside the caller's transaction."""
    if callable(migration):
        migration(tx)
        return
    for stmt in statements(migration):
        tx.execute(stmt)


def migrate(tx: Any, migrations: dict[int, Migration], version: int, current: int) -> None:
    """Bring a store from ``version`` to ``current`` (inside the caller's transaction)."""
    for v in range(version, current):
        apply(tx, migrations[v])
    tx.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(current),))

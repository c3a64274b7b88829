"""Where a store is: a ``store=`` argument (``--store``, ``$PLAIT_STORE``) read as a path or a URL.

- a path, or ``sqlite:///relative.db`` / ``sqlite:////absolute.db``: the SQLite store in that file
- ``postgresql://user@host/db`` (or ``postgres://``; libpq's URL, ``?host=/socket/dir`` too):
  the shared PostgreSQL store (the ``postgres`` extra: ``pip install 'plait[postgres]'``)
- anything else with a ``scheme://`` is an error naming the known schemes, never a file name.

A URL's password is kept out of everything plait prints or stores: ``urls.redact`` is the one
place a store URL is made printable (``postgresql://user:***@host/db``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plait.checkpoints.sqlite import SQLiteStore
from plait.checkpoints.urls import redact, scheme_of
from plait.errors import StoreError

POSTGRES_SCHEMES = ("postgresql", "postgres")
SCHEMES = ("sqlite", *POSTGRES_SCHEMES)
LOCAL_FOLDER = Path(".plait")  # files that go with a store on a server: retrieval indexes, optuna studies


def is_server(store: str | Path) -> bool:
    """Whether ``store`` names a store on a database server (not a local file)."""
    return scheme_of(store) in POSTGRES_SCHEMES


def sqlite_path(store: str | Path) -> str:
    """The file of an SQLite store argument: a path, or ``sqlite:///path`` (SQLAlchemy's form:
    three slashes and a relative path, four for an absolute one)."""
    scheme = scheme_of(store)
    if scheme is None:
        return str(store)
    if scheme != "sqlite":
        raise unknown_scheme(str(store))
    rest = str(store)[len("sqlite://"):]
    return rest[1:] if rest.startswith("/") else rest


def open_location(store: str | Path, *, create: bool = True) -> Any:
    """The store that ``store`` names; ``create=False`` refuses one that does not exist yet."""
    scheme = scheme_of(store)
    if scheme in POSTGRES_SCHEMES:
        return _postgres(str(store), create)
    path = sqlite_path(store)
    if create and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(path, create=create)


def _postgres(url: str, create: bool) -> Any:
    try:  # psycopg is an optional extra: core plait runs without it
        from plait.checkpoints.postgres import PostgresStore
    except ImportError as exc:
        raise StoreError(f"the store {redact(url)} is on PostgreSQL, and psycopg is not installed",
                         found=f"ImportError: {exc}",
                         fix="pip install 'plait[postgres]' (psycopg 3 and its pool)") from None
    return PostgresStore(url, create=create)


def unknown_scheme(store: str) -> StoreError:
    scheme = scheme_of(store)
    return StoreError(f"store {redact(store)!r} is a URL of an unknown kind ('{scheme}://')",
                      expected=f"a file path, or a URL starting {', '.join(s + '://' for s in SCHEMES)}",
                      found=f"'{scheme}://'",
                      fix="pass a path for an SQLite file (runs.db), or postgresql://user@host/db for a shared "
                          "store; to use a file whose name has '://', write it as ./NAME")


def local_path(store: str | Path) -> Path:
    """Where files that go with ``store`` live on this machine, as a path to put suffixes on: the
    SQLite file itself; for a server, ``.plait/<scheme>-<database>-<hash of the URL>``."""
    if not is_server(store):
        return Path(sqlite_path(store))
    parts = urlsplit(redact(str(store)))
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", parts.path.strip("/") or "default")
    digest = hashlib.sha256(redact(str(store)).encode()).hexdigest()[:8]
    return LOCAL_FOLDER / f"{parts.scheme}-{name}-{digest}"

"""Which store a run uses: a path (an SQLite file, created if missing), a Store, None (the default:
``$PLAIT_STORE``, else ``.plait/runs.db``) or False (none: nothing is recorded)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from plait.checkpoints.null import NullStore
from plait.checkpoints.protocol import Store
from plait.checkpoints.sqlite import SQLiteStore

DEFAULT_STORE = ".plait/runs.db"


@contextmanager
def using_store(store: Any) -> Iterator[Store]:
    """The store for ``store``; closed afterwards only if it was opened here from a path."""
    opened = open_store(store)
    try:
        yield opened
    finally:
        if opened is not store:
            opened.close()


def open_store(store: Any) -> Store:
    """A Store from a path, a Store, None (``$PLAIT_STORE`` or ``.plait/runs.db``) or False (none)."""
    if store is False:
        return NullStore()
    if store is None:
        store = os.environ.get("PLAIT_STORE", DEFAULT_STORE)
    if isinstance(store, (str, Path)):
        Path(store).parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(store)
    return store

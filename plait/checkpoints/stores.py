"""Which store a run uses: a path or URL (checkpoints/location.py: an SQLite file, created if missing,
``sqlite:///path``, ``postgresql://...``), a Store, None (the default: ``$PLAIT_STORE``, else
``.plait/runs.db``) or False (none: nothing is recorded)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from plait.checkpoints.location import open_location
from plait.checkpoints.null import NullStore
from plait.checkpoints.protocol import Store

DEFAULT_STORE = ".plait/runs.db"


@contextmanager
def using_store(store: Any, *, create: bool = True) -> Iterator[Store]:
    """The store for ``store``; closed afterwards only if it was opened here from a path."""
    opened = open_store(store, create=create)
    try:
        yield opened
    finally:
        if opened is not store:
            opened.close()


def open_store(store: Any, *, create: bool = True) -> Store:
    """A Store from a path or URL, a Store, None (``$PLAIT_STORE`` or ``.plait/runs.db``) or False (none).
    ``create=False`` (resume, rerun, answers: anything reading an existing run): a path must name
    an existing plait store (a URL: a database holding plait's schema), else StoreError; nothing
    is created or initialised."""
    if store is False:
        return NullStore()
    if store is None:
        store = os.environ.get("PLAIT_STORE", DEFAULT_STORE)
    if isinstance(store, (str, Path)):
        return open_location(store, create=create)
    return store

"""Index directories keyed by content: ``<root>/<key>/``, built once, reused while the key matches.

The key hashes the corpus (every id and text), the method and the index settings, so an edited
corpus or a changed setting gets a new directory and the old one is never read by mistake. A
directory is built under a temporary name and renamed into place, so a crash mid-build leaves no
half-written index behind, and two processes building the same key both end with a whole one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from plait.checkpoints.location import local_path
from plait.hashing import stable_hash
from plait.pipeline.retrieval.indexes import library_version

META = "plait-index.json"


def index_key(corpus_hash: str, index: type) -> str:
    return stable_hash({"corpus": corpus_hash, "method": index.method, "settings": index.settings})[:32]


def default_root() -> Path:
    """Beside the default store: ``$PLAIT_INDEX_DIR``, else the folder of ``$PLAIT_STORE`` (``.plait``
    for a store on a server) or ``.plait``."""
    if os.environ.get("PLAIT_INDEX_DIR"):
        return Path(os.environ["PLAIT_INDEX_DIR"])
    store = os.environ.get("PLAIT_STORE")
    return (local_path(store).parent if store else Path(".plait")) / "indexes"


def open_index(index: type, key: str, texts: list[str], root: Path) -> tuple[Any, bool]:
    """The index for ``key`` under ``root``: loaded if a whole one is there, else built. Returns
    (index, built)."""
    directory = root / key
    if _usable(directory, index):
        return index.load(directory), False
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        built = index.build(texts, scratch)
        (scratch / META).write_text(json.dumps(_meta(index, key, len(texts))))
        _move_into_place(scratch, directory, index)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return built, True


def _usable(directory: Path, index: type) -> bool:
    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError):
        return False
    # An index written by another version of its library may not load the same: rebuild it.
    return meta.get("library_version") == library_version(index)


def _meta(index: type, key: str, size: int) -> dict[str, Any]:
    return {"key": key, "method": index.method, "settings": index.settings, "passages": size,
            "library": index.library, "library_version": library_version(index)}


def _move_into_place(scratch: Path, directory: Path, index: type) -> None:
    if _usable(directory, index):  # a concurrent build finished first: keep its (identical) index
        return
    shutil.rmtree(directory, ignore_errors=True)  # a stale index, from another library version
    try:
        os.replace(scratch, directory)
    except OSError:
        if not _usable(directory, index):
            raise

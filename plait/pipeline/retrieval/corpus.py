"""A retrieval corpus: passages with ids, read from a list or a file, and its content hash.

Sources: a list of strings; a list of dicts holding a text field (and optionally an id field); or
a path to a ``.jsonl`` file (one object or string per line) or to a text file (one passage per
non-empty line). The hash covers every (id, text) pair in order, so any edit to the corpus gives
a new index key and a new fingerprint for the Retrieve node.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plait.errors import RetrievalError
from plait.hashing import stable_hash


@dataclass(frozen=True)
class Where:
    """What an error about a corpus names: the node (once traced) and the user's source line."""

    node: str | None = None
    source: Any = None


@dataclass(frozen=True)
class Corpus:
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    origin: str  # "a list" or the file's path, for messages
    text_field: str = "text"
    id_field: str | None = "id"

    @property
    def hash(self) -> str:
        return stable_hash([list(self.ids), list(self.texts)])

    def __len__(self) -> int:
        return len(self.texts)


def load_corpus(source: Any, text_field: str, id_field: str | None, where: Where) -> Corpus:
    """Read ``source`` into a Corpus; a RetrievalError names what is wrong and how to fix it."""
    if isinstance(source, (str, os.PathLike)):
        records, origin = _read_file(Path(source), where), str(source)
    elif isinstance(source, (list, tuple)):
        records, origin = [(i + 1, r) for i, r in enumerate(source)], "a list"
    else:
        raise _error(f"the corpus is a {type(source).__name__}", where, "corpus",
                     expected="a list of strings or dicts, or the path of a .jsonl or text file",
                     found=repr(source)[:200], fix="pass the passages as a list, or the path of a file holding them")
    if not records:
        raise _error(f"the corpus ({origin}) is empty", where, "corpus", expected="at least one passage",
                     found="no passages", fix="give Retrieve a corpus with at least one passage")
    pairs = [_passage(number, record, position, text_field, id_field, origin, where)
             for position, (number, record) in enumerate(records)]
    return Corpus(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs), origin, text_field, id_field)


def _read_file(path: Path, where: Where) -> list[tuple[int, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(f"cannot read the corpus file {path}", where, "corpus",
                     expected="a readable UTF-8 .jsonl or text file", found=f"{type(exc).__name__}: {exc}",
                     fix="check the path (relative paths start at the working directory), or pass a list") from None
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if path.suffix != ".jsonl":
        return [(n, line.strip()) for n, line in numbered]
    return [(n, _json_line(path, n, line, where)) for n, line in numbered]


def _json_line(path: Path, number: int, line: str, where: Where) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise _error(f"line {number} of the corpus file {path} is not JSON", where, "corpus",
                     expected="one JSON object or string per line", found=f"{line[:120]!r} ({exc.msg})",
                     fix=f"fix line {number}, or rename the file to .txt to read it as one passage per line") from None


def _passage(number: int, record: Any, position: int, text_field: str, id_field: str | None, origin: str,
             where: Where) -> tuple[str, str]:
    label = f"record {number} of {origin}" if origin == "a list" else f"line {number} of {origin}"
    if isinstance(record, str):
        return str(position), record
    if not isinstance(record, dict):
        raise _error(f"{label} is a {type(record).__name__}", where, "corpus", expected="a string or a dict",
                     found=repr(record)[:200], fix="make every passage a string, or a dict with a text field")
    if not isinstance(record.get(text_field), str):
        found = f"keys {sorted(record)}" if text_field not in record else f"{type(record[text_field]).__name__}"
        raise _error(f"{label} has no text field '{text_field}'", where, text_field, expected="a string",
                     found=found, fix=f"add '{text_field}' to every record, or name the field: text_field='...'")
    ident = record.get(id_field) if id_field else None
    return (str(ident) if ident is not None else str(position)), record[text_field]


def _error(summary: str, where: Where, field: str, **details: Any) -> RetrievalError:
    kind = "argument" if field == "corpus" else "text field"
    return RetrievalError(summary, node=where.node, field=field, field_kind=kind, source=where.source, **details)

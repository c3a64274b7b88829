"""Canonical JSON and the one hash function behind fingerprints, value hashes and content keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic_core import to_jsonable_python


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace; pydantic models and dataclasses as data.
    NaN and the infinities are written as NaN / Infinity, so a NaN input gives the same key each time."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=to_jsonable_python)


def sha256_hex(text: str | bytes) -> str:
    # surrogatepass: a lone surrogate (valid in a Python str, not in UTF-8) hashes too, and distinctly;
    # every other string hashes as its UTF-8, as before.
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``."""
    return sha256_hex(canonical_json(obj))

"""Canonical JSON and the one hash function behind fingerprints, value hashes and content keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic_core import to_jsonable_python


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace; pydantic models and dataclasses as data."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=to_jsonable_python)


def sha256_hex(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``."""
    return sha256_hex(canonical_json(obj))

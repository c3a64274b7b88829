"""Content keys (DESIGN.md contract 2): a Merkle hash of a node's recipe and its input values."""

from __future__ import annotations

from typing import Any

from plait.hashing import canonical_json, sha256_hex, stable_hash


def lm_identity_hash(identity: dict[str, Any] | None) -> str:
    return stable_hash(identity) if identity is not None else ""


def content_key(fingerprint: str, lm_hash: str, adapter: str | None, inputs: dict[str, Any]) -> str:
    """sha256 over the node's fingerprint, its LM and adapter, and the JSON of its input values.

    Inputs enter by value, not by upstream key: when an upstream node recomputes to the same
    value, this key is unchanged and the node is reused (early cutoff).
    """
    return sha256_hex(f"{fingerprint}|{lm_hash}|{adapter or ''}|{canonical_json(inputs)}")


def failure_key(key: str) -> str:
    """Where the cache keeps a node's remembered parse failure: beside its content key, never equal
    to one, so a failure is never read as a value."""
    return key + ":failed"

"""Keys (DESIGN.md contracts 2 and 5): what a node's recorded output is found by.

The *content key* finds an output across runs (the cache): it covers the node's recipe, the LM
that produced the output and the input values, so a fallback's answer never passes for the
primary's. The *replay key* finds it within its own run (the journal): it covers the recipe and
the input values but not the LM, because within a run a recorded output is authoritative,
whichever LM produced it and whatever LM the run is resumed with.
"""

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


def replay_key(fingerprint: str, inputs: dict[str, Any]) -> str:
    """sha256 over the node's fingerprint and the JSON of its input values, without the LM.

    The fingerprint holds the node's prompt state (its declared adapter included) or code
    version, so an edit changes this key; the LM and an adapter the LM chose are run options.
    """
    return sha256_hex(f"replay|{fingerprint}|{canonical_json(inputs)}")


def failure_key(key: str) -> str:
    """Where the cache keeps a node's remembered parse failure: beside its content key, never equal
    to one, so a failure is never read as a value."""
    return key + ":failed"

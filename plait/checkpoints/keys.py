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


def content_key(fingerprint: str, lm_hash: str, adapter: str | None, inputs: dict[str, Any],
                site: str | None = None) -> str:
    """sha256 over the node's fingerprint, its LM and adapter, and the JSON of its input values.

    Inputs enter by value, not by upstream key: when an upstream node recomputes to the same
    value, this key is unchanged and the node is reused (early cutoff). ``site``: the node's id,
    for a sampled call (see :func:`is_sampled`), so that two nodes asking the same question each
    get their own sample instead of sharing one.
    """
    return _content_key(fingerprint, lm_hash, adapter, canonical_json(inputs), site)


def step_keys(fingerprint: str, lm_hash: str, adapter: str | None, inputs: dict[str, Any],
              site: str | None = None) -> tuple[str, str]:
    """(content_key(...), replay_key(fingerprint, inputs)), the inputs' JSON written once for both:
    the executor needs both keys for every node, and the JSON is most of their cost."""
    text = canonical_json(inputs)
    return _content_key(fingerprint, lm_hash, adapter, text, site), _replay_key(fingerprint, text)


def _content_key(fingerprint: str, lm_hash: str, adapter: str | None, inputs_json: str, site: str | None) -> str:
    text = f"{fingerprint}|{lm_hash}|{adapter or ''}|{inputs_json}"
    return sha256_hex(text if site is None else f"{text}|site:{site}")


def is_sampled(settings: dict[str, Any], identity: dict[str, Any]) -> bool:
    """Does a call draw a sample rather than compute an answer? When its temperature is above 0
    or it asks for several completions (``n``), by its node's settings, else by its LM's identity
    (top level, or under "settings" as DSPyLM keeps them).

    A deterministic call's answer is a function of its prompt, so any node asking the same
    question may reuse it; a sample is not, and five nodes of a self-consistency vote must get
    five samples (DSPy 3's ``rollout_id`` exists for the same reason). Recorded samples still
    replay on resume and rerun: within a run the journal is keyed by node, not by content.
    """
    lm_settings = {**identity, **(identity.get("settings") or {})}
    temperature = settings.get("temperature", lm_settings.get("temperature"))
    completions = settings.get("n", lm_settings.get("n"))
    return bool((isinstance(temperature, (int, float)) and temperature > 0)
                or (isinstance(completions, int) and completions > 1))


def replay_key(fingerprint: str, inputs: dict[str, Any]) -> str:
    """sha256 over the node's fingerprint and the JSON of its input values, without the LM.

    The fingerprint holds the node's prompt state (its declared adapter included) or code
    version, so an edit changes this key; the LM and an adapter the LM chose are run options.
    """
    return _replay_key(fingerprint, canonical_json(inputs))


def _replay_key(fingerprint: str, inputs_json: str) -> str:
    return sha256_hex(f"replay|{fingerprint}|{inputs_json}")


def failure_key(key: str) -> str:
    """Where the cache keeps a node's remembered parse failure: beside its content key, never equal
    to one, so a failure is never read as a value."""
    return key + ":failed"

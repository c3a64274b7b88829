"""Checks made once before a run's first item, so that a mistake every item would hit (a hosted
LM's API key missing from the environment) fails the run once, with the fix, instead of failing
each item with the same error."""

from __future__ import annotations

from typing import Any

from plait.errors import PlaitError
from plait.ir.plan import Plan
from plait.runtime.assemble import default_lm, named_lms
from plait.runtime.loops import lm_nodes
from plait.runtime.options import RunOptions


def check_keys(plan: Plan, options: RunOptions, own_lms: dict[str, Any] | None) -> None:
    """Raise if an LM the plan's nodes call lacks its API key (``missing_keys``: plait.DSPyLM)."""
    named, default = named_lms(options, own_lms or {}), default_lm(options)
    for node in lm_nodes(plan):
        lm = named.get(node.params.lm) if node.params.lm else default
        missing = lm.missing_keys() if hasattr(lm, "missing_keys") else []
        if missing:
            raise _missing_key(node.id, getattr(lm, "model", str(lm)), missing)


def _missing_key(node_id: str, model: str, missing: list[str]) -> PlaitError:
    names = " or ".join(f"${name}" for name in missing)
    return PlaitError(
        f"no API key for the LM {model}: {names} is not set, so every call of node '{node_id}' would fail",
        node=node_id, expected=f"the provider's key in {names}", found="no api_key= and no such variable set",
        fix=f"export {missing[0]}=... and run again (or pass api_key= to plait.DSPyLM; for a server of your "
            "own that needs no key, pass its URL: --api-base URL, api_base=...)")

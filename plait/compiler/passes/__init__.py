"""The compile passes, in order. Each is ``Plan -> Plan`` and states what it guarantees."""

from __future__ import annotations

from plait.compiler.passes.check_types import check_types
from plait.compiler.passes.fingerprint import fingerprint
from plait.compiler.passes.prune import prune
from plait.compiler.verify import verify
from plait.ir.plan import Plan

PASSES = [
    check_types,  # every wire carries a type its consumer accepts
    prune,  # every node reaches the output; nothing runs for nothing
    fingerprint,  # every node has the static half of its content key
]


def run_passes(plan: Plan, passes=PASSES) -> Plan:
    """Verify the plan, then run each pass and verify again: a broken invariant names its pass."""
    plan = verify(plan)
    for p in passes:
        plan = verify(p(plan))
    return plan


__all__ = ["PASSES", "run_passes", "check_types", "prune", "fingerprint", "verify"]

"""The compile passes, in order. Each is ``Plan -> Plan`` and states what it guarantees."""

from __future__ import annotations

from plait.compiler.passes.check_types import check_types
from plait.compiler.passes.fingerprint import fingerprint
from plait.compiler.passes.prune import prune
from plait.compiler.verify import verify
from plait.errors import PlanError
from plait.ir.plan import Plan
from plait.lm.config import checks_on

PASSES = [
    check_types,  # every wire carries a type its consumer accepts
    prune,  # every node reaches the output; nothing runs for nothing
    fingerprint,  # every node has the static half of its content key
]


def run_passes(plan: Plan, passes=PASSES) -> Plan:
    """Verify the plan, run the passes, verify the result. With checks on (``PLAIT_CHECKS=1``,
    ``plait.configure(checks=True)``; tests turn them on) the verifier runs after every pass, so a
    pass that breaks an invariant is named in the error."""
    plan = verify(plan)
    checks = checks_on()
    for p in passes:
        plan = p(plan)
        if checks:
            _verify_after(p.__name__, plan)
    return plan if checks else verify(plan)


def _verify_after(pass_name: str, plan: Plan) -> None:
    try:
        verify(plan)
    except PlanError as exc:
        raise PlanError(f"after pass '{pass_name}': {exc.summary}", node=exc.node, field=exc.field,
                        field_kind=exc.field_kind, source=exc.source, expected=exc.expected,
                        found=exc.found, fix=exc.fix) from exc


__all__ = ["PASSES", "run_passes", "check_types", "prune", "fingerprint", "verify"]

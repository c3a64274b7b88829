"""Pass: drop nodes whose results reach no output."""

from __future__ import annotations

from plait.ir.nodes import Op
from plait.ir.plan import Plan


def prune(plan: Plan) -> Plan:
    """Afterwards: every node except INPUT is an ancestor of OUTPUT (or is OUTPUT)."""
    (output,) = plan.of_op(Op.OUTPUT)
    keep = plan.ancestors(output.id) | {output.id}
    dead = [n.id for n in plan.nodes if n.id not in keep and n.op is not Op.INPUT]
    if not dead:
        return plan
    return plan.without(dead).with_meta(pruned=sorted(set(plan.meta.get("pruned", [])) | set(dead)))

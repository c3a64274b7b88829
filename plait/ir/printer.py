"""The one stable text form of a plan, used by ``repr``, error messages and golden tests.

Each node prints by its op's rule (``plait.ir.rules``): ``id = call(args) -> (fields)  #key  @ source``
and then the rule's detail lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plait.ir.nodes import Node
from plait.ir.rules import rule_for

if TYPE_CHECKING:  # Plan's repr is this text form: the Plan module imports the printer
    from plait.ir.plan import Plan


def format_plan(plan: Plan) -> str:
    lines = [f"plan {plan.name} ({len(plan)} nodes)"]
    for node in plan.nodes:
        lines.extend(format_node(node))
    return "\n".join(lines)


def format_node(node: Node) -> list[str]:
    return rule_for(node.op).format(node, format_node)

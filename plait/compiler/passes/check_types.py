"""Pass: every wire carries a type its consumer accepts."""

from __future__ import annotations

from plait.errors import PlanError
from plait.ir.nodes import Node, Port
from plait.ir.plan import Plan
from plait.ir.rules import rule_for
from plait.ir.types import is_assignable, type_name


def check_types(plan: Plan) -> Plan:
    """Afterwards: each input port's declared type accepts every value its producer can emit."""
    for node in plan.nodes:
        for port in node.inputs:
            if port.ref is not None:
                _check_port(plan, node, port)
        for body in rule_for(node.op).bodies(node.params):
            check_types(body)
    return plan


def _check_port(plan: Plan, node: Node, port: Port) -> None:
    produced = plan.node(port.ref.node).output(port.ref.field)
    if produced is None or is_assignable(produced.type, port.type):
        return
    raise PlanError(
        f"type mismatch: input '{port.name}' of node '{node.id}' is declared {type_name(port.type)} "
        f"but receives {type_name(produced.type)}",
        node=node.id, field=port.name, field_kind="input", source=node.source,
        expected=type_name(port.type), found=f"{type_name(produced.type)}, from {port.ref}",
        fix="make the two fields' types agree, or convert the value in a @plait.step between the nodes",
    )

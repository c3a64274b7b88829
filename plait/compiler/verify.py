"""The verifier: structural invariants every Plan must satisfy, checked apart from the passes.

``compile`` runs it on the lowered plan; with checks on (tests, ``PLAIT_CHECKS=1``) it also runs
after every pass, so a pass that breaks an invariant is caught at that pass.
"""

from __future__ import annotations

import difflib

from plait.errors import PlanError
from plait.lm.adapters import ADAPTERS, unknown_adapter
from plait.ir.nodes import Node, Op
from plait.ir.plan import Plan
from plait.ir.rules import rule_for


def verify(plan: Plan) -> Plan:
    """Raise PlanError unless the plan is well formed; return it unchanged."""
    _check_boundaries(plan)
    if not plan.is_acyclic():
        raise PlanError(f"plan '{plan.name}' has a cycle: {' -> '.join(plan.cycle())}",
                        fix="a node cannot read its own output; break the cycle")
    for node in plan.nodes:
        _check_params(node)
        _check_wires(plan, node)
        _OP_CHECKS.get(node.op, _no_check)(node)
        for body in rule_for(node.op).bodies(node.params):
            verify(body)  # a loop's body is a plan of its own
    _check_inputs_used(plan)
    if plan.meta.get("fingerprinted"):
        for node in plan.nodes:
            if node.fingerprint is None:
                raise PlanError("a node has no fingerprint after the fingerprint pass", node=node.id,
                                source=node.source, fix="this is a bug in a pass; please report it")
    return plan


def _check_boundaries(plan: Plan) -> None:
    for op in (Op.INPUT, Op.OUTPUT):
        count = len(plan.of_op(op))
        if count != 1:
            raise PlanError(f"plan '{plan.name}' has {count} {op.value} nodes",
                            expected="exactly one", found=str(count),
                            fix="build plans with plait.compile rather than by hand")


def _check_adapter(node: Node) -> None:
    if node.params.adapter is not None and node.params.adapter not in ADAPTERS:
        raise unknown_adapter(node, node.params.adapter, given_by="the module's adapter=")


def _no_check(node: Node) -> None:
    """Most ops need nothing beyond their params' class, their wires and their bodies."""


# Checks an op needs beyond the IR's rule, which cannot know the layers above it (the adapters).
_OP_CHECKS = {Op.PREDICT: _check_adapter}


def _check_params(node: Node) -> None:
    expected = rule_for(node.op).params_type
    if expected is not None and not isinstance(node.params, expected):
        raise PlanError(f"node '{node.id}' ({node.op.value}) has the wrong parameters",
                        node=node.id, source=node.source, expected=expected.__name__,
                        found=type(node.params).__name__, fix="this is a bug in a pass; please report it")


def _check_wires(plan: Plan, node: Node) -> None:
    for port in node.inputs:
        if port.ref is None:
            continue
        producer = plan.get(port.ref.node)
        if producer is None:
            raise PlanError(f"input '{port.name}' of node '{node.id}' reads a node that does not exist",
                            node=node.id, field=port.name, field_kind="input", source=node.source,
                            expected="an existing node", found=f"'{port.ref.node}'",
                            fix="wire the input to a node of this plan")
        if producer.output(port.ref.field) is None:
            raise _unknown_field(node, port.name, producer, port.ref.field)


def _unknown_field(node: Node, port: str, producer: Node, name: str) -> PlanError:
    known = [f.name for f in producer.outputs]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return PlanError(f"input '{port}' of node '{node.id}' reads unknown field '{name}' of '{producer.id}'",
                     node=node.id, field=port, field_kind="input", source=node.source,
                     expected=f"one of {', '.join(known)}", found=f"'{name}'",
                     fix=f"{hint}read a field that '{producer.id}' produces")


def _check_inputs_used(plan: Plan) -> None:
    (inputs,) = plan.of_op(Op.INPUT)
    used = {p.ref.field for n in plan.nodes for p in n.inputs if p.ref and p.ref.node == inputs.id}
    for field in inputs.outputs:
        if field.name not in used:
            raise PlanError(f"pipeline input '{field.name}' is never used", node=inputs.id,
                            field=field.name, field_kind="input", source=inputs.source,
                            expected=f"'{field.name}' passed to a module or step",
                            found="no node reads it",
                            fix=f"pass {field.name} to a module in forward(), or remove the parameter")

"""Per-item traces of a recorded run: each node's inputs and outputs, read from the journal.

Optimizers turn the traces of successful items into demos; notebooks show them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from plait.checkpoints.codec import codec_for
from plait.checkpoints.protocol import Store
from plait.checkpoints.stores import using_store
from plait.ir.nodes import Node, Op
from plait.ir.plan import Plan
from plait.ir.rules import rule_for


@dataclass(frozen=True)
class NodeTrace:
    node_id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


def item_traces(run_id: str, plan: Plan, store: Any = None) -> dict[str, dict[str, NodeTrace]]:
    """item id -> node id -> NodeTrace, for every node recorded 'ok' in the run."""
    with using_store(store, create=False) as opened:
        return _traces(run_id, plan, opened)


def _traces(run_id: str, plan: Plan, store: Store) -> dict[str, dict[str, NodeTrace]]:
    journal = store.journal(run_id)
    by_item: dict[str, dict[str, dict[str, Any]]] = {}
    for (item_id, node_id, _), row in journal.items():
        node = plan.get(node_id)
        if row.status == "ok" and node is not None and rule_for(node.op).traced:
            by_item.setdefault(item_id, {})[node_id] = _decode(store, node, row.value_hash)
    inputs = _inputs_by_item(store, run_id, plan)
    return {item: _wire(plan, values, inputs.get(item, {})) for item, values in by_item.items()}


def _decode(store: Store, node: Node, value_hash: str) -> dict[str, Any]:
    return codec_for(node.outputs).decode(store.read_value(value_hash), f"the output of '{node.id}'")


def _inputs_by_item(store: Store, run_id: str, plan: Plan) -> dict[str, dict[str, Any]]:
    return {i.item_id: json.loads(store.read_value(i.input_hash)) for i in store.run_items(run_id)}


def _wire(plan: Plan, values: dict[str, dict[str, Any]], item_inputs: dict[str, Any]) -> dict[str, NodeTrace]:
    env = {plan.of_op(Op.INPUT)[0].id: item_inputs, **values}
    traces = {}
    for node_id, outputs in values.items():
        node = plan.node(node_id)
        ins = {p.name: env.get(p.ref.node, {}).get(p.ref.field) if p.ref else p.const for p in node.inputs}
        traces[node_id] = NodeTrace(node_id, ins, outputs)
    return traces

"""Fingerprints: the static half of a node's content key (the fingerprint pass sets them, the
runtime keys loop iterations by their body's). What of a node's params enters its key is its op's
rule's ``key`` (``plait.ir.rules``)."""

from __future__ import annotations

from plait.hashing import stable_hash
from plait.ir.nodes import LoopParams, Node, Op
from plait.ir.rules import RULES, rule_for
from plait.ir.types import type_to_json


def node_fingerprint(node: Node) -> str:
    return stable_hash({
        "op": node.op.value,
        "params": rule_for(node.op).key(node.params, node_fingerprint),
        "inputs": [[p.name, type_to_json(p.type), p.const] for p in node.inputs],
        "outputs": [[f.name, type_to_json(f.type)] for f in node.outputs],
    })


def loop_body_fingerprint(params: LoopParams) -> str:
    """The part of a loop's key that decides its iterations: the body and the tools, not the
    limits, so that raising max_iters keeps the recorded iterations."""
    data = RULES[Op.LOOP].key(params, node_fingerprint)
    return stable_hash({"body": data["body"], "tools": data["tools"]})

"""Fingerprints: the static half of a node's content key (the fingerprint pass sets them, the
runtime keys loop iterations by their body's)."""

from __future__ import annotations

from typing import Any

from plait.hashing import stable_hash
from plait.ir.nodes import HumanParams, LoopParams, Node, PredictParams
from plait.ir.serialize import params_to_json
from plait.ir.types import type_to_json


def node_fingerprint(node: Node) -> str:
    return stable_hash({
        "op": node.op.value,
        "params": _key_params(node),
        "inputs": [[p.name, type_to_json(p.type), p.const] for p in node.inputs],
        "outputs": [[f.name, type_to_json(f.type)] for f in node.outputs],
    })


def _key_params(node: Node) -> Any:
    if isinstance(node.params, LoopParams):
        return _loop_key_params(node.params)
    data = params_to_json(node.params)
    if data is None:
        return None
    data.pop("provenance", None)
    data.pop("reusable", None)
    data.pop("path", None)  # a step's identity is its code, not where it lives
    data.pop("spec", None)  # a step object's spec is summed up by its version (the index key)
    if isinstance(node.params, (PredictParams, HumanParams)):
        data["signature"].pop("name", None)  # the class name never reaches the prompt
    return data


def _loop_key_params(params: LoopParams) -> Any:
    """A loop's body by its nodes' fingerprints and wiring (producers by position, not by id)."""
    position = {n.id: i for i, n in enumerate(params.body.nodes)}
    body = [[node_fingerprint(n), [[p.name, position.get(p.ref.node), p.ref.field] if p.ref else None
                                   for p in n.inputs]] for n in params.body.nodes]
    return {"body": body, "tools": [[t.name, t.version] for t in params.tools],
            "max_iters": params.max_iters, "on_max_iters": params.on_max_iters}


def loop_body_fingerprint(params: LoopParams) -> str:
    """The part of a loop's key that decides its iterations: the body and the tools, not the
    limits, so that raising max_iters keeps the recorded iterations."""
    data = _loop_key_params(params)
    return stable_hash({"body": data["body"], "tools": data["tools"]})

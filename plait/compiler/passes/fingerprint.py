"""Pass: give every node its fingerprint, the static half of its content key."""

from __future__ import annotations

from typing import Any

from plait.compiler.ir import HumanParams, Node, Plan, PredictParams
from plait.compiler.serialize import params_to_json
from plait.compiler.types import type_to_json
from plait.hashing import stable_hash


def fingerprint(plan: Plan) -> Plan:
    """Afterwards: every node has ``fingerprint``, a hash of everything except its input values
    that decides its output: op, code version or prompt state (instructions, field types, demos,
    adapter, LM name, settings), port names, types and constants. Not in it: the node id, the
    source line, the optimizer's provenance, so that moving or renaming code reuses results.
    At run time the content key adds the LM's identity and the input values' hashes.
    """
    nodes = [node.with_(fingerprint=node_fingerprint(node)) for node in plan.nodes]
    return plan.replace_nodes(nodes).with_meta(fingerprinted=True)


def node_fingerprint(node: Node) -> str:
    return stable_hash({
        "op": node.op.value,
        "params": _key_params(node),
        "inputs": [[p.name, type_to_json(p.type), p.const] for p in node.inputs],
        "outputs": [[f.name, type_to_json(f.type)] for f in node.outputs],
    })


def _key_params(node: Node) -> Any:
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

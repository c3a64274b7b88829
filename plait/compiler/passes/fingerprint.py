"""Pass: give every node its fingerprint, the static half of its content key."""

from __future__ import annotations

from plait.ir.fingerprint import node_fingerprint
from plait.ir.plan import Plan


def fingerprint(plan: Plan) -> Plan:
    """Afterwards: every node has ``fingerprint``, a hash of everything except its input values
    that decides its output: op, code version or prompt state (instructions, field types, demos,
    adapter, LM name, settings), port names, types and constants. Not in it: the node id, the
    source line, the optimizer's provenance, so that moving or renaming code reuses results.
    At run time the content key adds the LM's identity and the input values' hashes.
    """
    nodes = [node.with_(fingerprint=node_fingerprint(node)) for node in plan.nodes]
    return plan.replace_nodes(nodes).with_meta(fingerprinted=True)

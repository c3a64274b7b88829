"""Plans as JSON: what ``CompiledPipeline.save`` writes and ``load`` reads. No pickle.

Each node's params are saved and read by its op's rule (``plait.ir.rules``): signatures field by
field with their types (``signatures.py``), step functions by ``module:qualname`` and re-imported
on load, a retrieval as its searcher's spec; constants and demos as JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python

from plait._version import __version__
from plait.errors import PlanLoadError
from plait.ir.nodes import Field, Node, Op, Port, Ref
from plait.ir.plan import Plan
from plait.ir.rules import rule_for
from plait.ir.source import SourceLoc
from plait.ir.types import type_from_json, type_to_json

FORMAT = "plait.plan"
FORMAT_VERSION = 1


def params_to_json(node: Node) -> dict[str, Any] | None:
    return rule_for(node.op).to_json(node.params, _body_to_json)


def params_from_json(op: Op, data: dict[str, Any] | None) -> Any:
    return rule_for(op).from_json(data, _body_from_json)


def _body_to_json(plan: Plan) -> dict[str, Any]:
    return {"name": plan.name, "nodes": [node_to_json(n) for n in plan.nodes]}


def _body_from_json(data: dict[str, Any]) -> Plan:
    return Plan(data["name"], [node_from_json(n) for n in data["nodes"]])


def node_to_json(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "op": node.op.value,
        "inputs": [_port_to_json(p) for p in node.inputs],
        "outputs": [{"name": f.name, "type": type_to_json(f.type), "desc": f.desc} for f in node.outputs],
        "params": params_to_json(node),
        "source": _source_to_json(node.source),
        "fingerprint": node.fingerprint,
    }


def _source_to_json(source: SourceLoc | None) -> list | None:
    """[file, line], and the notebook cell's number when there is one (a third item older plans lack)."""
    if source is None:
        return None
    return [source.file, source.line] + ([source.cell] if source.cell is not None else [])


def _port_to_json(port: Port) -> dict[str, Any]:
    wire = {"ref": [port.ref.node, port.ref.field]} if port.ref else {"const": to_jsonable_python(port.const)}
    return {"name": port.name, "type": type_to_json(port.type), **wire}


def node_from_json(data: dict[str, Any]) -> Node:
    data = _migrated(data)
    op = Op(data["op"])
    return Node(
        id=data["id"], op=op,
        inputs=tuple(_port_from_json(p) for p in data["inputs"]),
        outputs=tuple(Field(f["name"], type_from_json(f["type"]), f.get("desc", "")) for f in data["outputs"]),
        params=params_from_json(op, data["params"]),
        source=SourceLoc(*data["source"]) if data["source"] else None,
        fingerprint=data.get("fingerprint"),
    )


def _migrated(data: dict[str, Any]) -> dict[str, Any]:
    """A node as this plait saves it. Before the RETRIEVE op, a retrieval was a STEP whose function
    was saved as its ``spec``: it loads as the RETRIEVE node it is."""
    params = data.get("params") or {}
    if data["op"] == Op.STEP.value and "spec" in params:
        moved = {"path": params["path"], "spec": params["spec"], "reusable": params.get("reusable", True)}
        return {**data, "op": Op.RETRIEVE.value, "params": moved}
    return data


def _port_from_json(data: dict[str, Any]) -> Port:
    ref = Ref(*data["ref"]) if "ref" in data else None
    return Port(data["name"], type_from_json(data["type"]), ref=ref, const=data.get("const"))


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "plait_version": __version__,
        "name": plan.name, "meta": to_jsonable_python(plan.meta),
        "nodes": [node_to_json(n) for n in plan.nodes],
    }


def plan_from_json(data: Any, origin: str = "the plan") -> Plan:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanLoadError(f"{origin} is not a saved plait plan", expected=f"JSON with format '{FORMAT}'",
                            found=repr(data.get("format") if isinstance(data, dict) else type(data).__name__),
                            fix="load a file written by CompiledPipeline.save")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise PlanLoadError(
            f"{origin} uses plan format {version}; this plait (reads format {FORMAT_VERSION}) cannot read it",
            expected=f"format_version {FORMAT_VERSION}", found=f"{version}, written by plait {data.get('plait_version')}",
            fix="load it with the plait version that saved it, or recompile the pipeline and save again")
    try:
        nodes = [node_from_json(n) for n in data["nodes"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanLoadError(f"{origin} is damaged", found=f"{type(exc).__name__}: {exc}",
                            fix="recompile the pipeline and save it again") from None
    return Plan(data["name"], nodes, data.get("meta", {}))

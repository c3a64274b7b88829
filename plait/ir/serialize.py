"""Plans as JSON: what ``CompiledPipeline.save`` writes and ``load`` reads. No pickle.

Signatures are stored field by field with their types (see ``types.py``); step functions by
``module:qualname`` and re-imported on load (a step object with ``to_spec()`` is saved as its
spec and rebuilt by its class's ``from_spec``); constants and demos as JSON.
"""

from __future__ import annotations

from typing import Any

import dspy
from pydantic_core import to_jsonable_python

from plait._version import __version__
from plait.errors import PlanLoadError
from plait.ir.nodes import Field, HumanParams, LoopParams, Node, Op, Port, PredictParams, Ref, StepParams
from plait.ir.plan import Plan
from plait.ir.source import SourceLoc
from plait.ir.tools import Tool
from plait.ir.types import import_qualified, type_from_json, type_to_json

FORMAT = "plait.plan"
FORMAT_VERSION = 1


def signature_to_json(signature: type[dspy.Signature]) -> dict[str, Any]:
    def fields(items: dict) -> list[dict[str, Any]]:
        return [
            {"name": n, "type": type_to_json(f.annotation), **_extra(f.json_schema_extra or {})}
            for n, f in items.items()
        ]

    return {
        "name": signature.__name__,
        "instructions": signature.instructions,
        "inputs": fields(signature.input_fields),
        "outputs": fields(signature.output_fields),
    }


def _extra(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: extra[k] for k in ("desc",) if k in extra}  # DSPy 3 ignores prefix


def signature_from_json(data: dict[str, Any]) -> type[dspy.Signature]:
    fields: dict[str, Any] = {}
    for spec in data["inputs"]:
        fields[spec["name"]] = (type_from_json(spec["type"]), dspy.InputField(**_extra(spec)))
    for spec in data["outputs"]:
        fields[spec["name"]] = (type_from_json(spec["type"]), dspy.OutputField(**_extra(spec)))
    return dspy.make_signature(fields, data["instructions"], signature_name=data["name"])


def params_to_json(params: Any) -> dict[str, Any] | None:
    if isinstance(params, PredictParams):
        return {
            "signature": signature_to_json(params.signature),
            "demos": to_jsonable_python(list(params.demos)),
            "adapter": params.adapter,
            "lm": params.lm,
            "settings": to_jsonable_python(dict(params.settings)),
            "reusable": params.reusable,
            "provenance": to_jsonable_python(dict(params.provenance)),
        }
    if isinstance(params, StepParams):
        data = {"path": params.path, "version": params.version, "reusable": params.reusable}
        if hasattr(params.func, "to_spec"):  # a step object made from data (a Retriever): saved as its spec
            data["spec"] = params.func.to_spec()
        return data
    if isinstance(params, HumanParams):
        return {"signature": signature_to_json(params.signature), "timeout": params.timeout,
                "default": to_jsonable_python(params.default), "reusable": params.reusable}
    if isinstance(params, LoopParams):
        return loop_params_to_json(params)
    return None


def loop_params_to_json(params: LoopParams) -> dict[str, Any]:
    return {
        "body": {"name": params.body.name, "nodes": [node_to_json(n) for n in params.body.nodes]},
        "tools": [{"path": t.path, "version": t.version} for t in params.tools],
        "max_iters": params.max_iters, "on_max_iters": params.on_max_iters, "reusable": params.reusable,
    }


def loop_params_from_json(data: dict[str, Any]) -> LoopParams:
    body = Plan(data["body"]["name"], [node_from_json(n) for n in data["body"]["nodes"]])
    tools = tuple(Tool(import_qualified(t["path"])) for t in data["tools"])  # the current code decides
    return LoopParams(body, tools, data["max_iters"], data["on_max_iters"], data["reusable"])


def params_from_json(op: Op, data: dict[str, Any] | None) -> Any:
    if op is Op.PREDICT:
        return PredictParams(
            signature=signature_from_json(data["signature"]),
            demos=tuple(data["demos"]), adapter=data["adapter"], lm=data["lm"],
            settings=data["settings"], reusable=data["reusable"], provenance=data["provenance"],
        )
    if op is Op.STEP:
        obj = import_qualified(data["path"])
        if "spec" in data:
            obj = obj.from_spec(data["spec"])
        # The current code decides the version: a step edited since the save gets a new key.
        version = getattr(obj, "version", None) or data["version"]
        return StepParams(getattr(obj, "func", obj), data["path"], version, data["reusable"])
    if op is Op.HUMAN:
        return HumanParams(signature_from_json(data["signature"]), data["timeout"], data["default"], data["reusable"])
    if op is Op.LOOP:
        return loop_params_from_json(data)
    return None


def node_to_json(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "op": node.op.value,
        "inputs": [_port_to_json(p) for p in node.inputs],
        "outputs": [{"name": f.name, "type": type_to_json(f.type), "desc": f.desc} for f in node.outputs],
        "params": params_to_json(node.params),
        "source": [node.source.file, node.source.line] if node.source else None,
        "fingerprint": node.fingerprint,
    }


def _port_to_json(port: Port) -> dict[str, Any]:
    wire = {"ref": [port.ref.node, port.ref.field]} if port.ref else {"const": to_jsonable_python(port.const)}
    return {"name": port.name, "type": type_to_json(port.type), **wire}


def node_from_json(data: dict[str, Any]) -> Node:
    op = Op(data["op"])
    return Node(
        id=data["id"], op=op,
        inputs=tuple(_port_from_json(p) for p in data["inputs"]),
        outputs=tuple(Field(f["name"], type_from_json(f["type"]), f.get("desc", "")) for f in data["outputs"]),
        params=params_from_json(op, data["params"]),
        source=SourceLoc(*data["source"]) if data["source"] else None,
        fingerprint=data.get("fingerprint"),
    )


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

"""The one stable text form of a plan, used by ``repr``, error messages and golden tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plait.ir.nodes import HumanParams, LoopParams, Node, Op, Port, PredictParams, StepParams
from plait.ir.types import type_name

if TYPE_CHECKING:  # Plan's repr is this text form: the Plan module imports the printer
    from plait.ir.plan import Plan


def format_plan(plan: Plan) -> str:
    lines = [f"plan {plan.name} ({len(plan)} nodes)"]
    for node in plan.nodes:
        lines.extend(format_node(node))
    return "\n".join(lines)


def format_node(node: Node) -> list[str]:
    key = f"  #{node.fingerprint[:8]}" if node.fingerprint else ""
    where = f"  @ {node.source}" if node.source else ""
    if node.op is Op.OUTPUT:
        return [f"  return ({_args(node.inputs)}){where}"]
    head = f"  {node.id} = {_call(node)}({_args(node.inputs)}) -> ({_fields(node)}){key}{where}"
    return [head, *(f"      {line}" for line in _details(node))]


def _call(node: Node) -> str:
    if isinstance(node.params, PredictParams):
        sig = node.params.signature
        if sig.__name__ == "StringSignature":  # DSPy's name for signatures made from strings
            return f"predict[{', '.join(sig.input_fields)} -> {', '.join(sig.output_fields)}]"
        return f"predict {sig.__name__}"
    if isinstance(node.params, StepParams):
        return f"step {node.params.path}"
    if isinstance(node.params, HumanParams):
        return _signature_call("human", node.params.signature)
    if isinstance(node.params, LoopParams) and node.params.tools:
        return f"loop[tools: {', '.join(t.name for t in node.params.tools)}]"
    return node.op.value


def _signature_call(op: str, sig: Any) -> str:
    if sig.__name__ == "StringSignature":  # DSPy's name for signatures made from strings
        return f"{op}[{', '.join(sig.input_fields)} -> {', '.join(sig.output_fields)}]"
    return f"{op} {sig.__name__}"


def _args(ports: tuple[Port, ...]) -> str:
    return ", ".join(f"{p.name}={p.ref}" if p.ref else f"{p.name}={p.const!r}" for p in ports)


def _fields(node: Node) -> str:
    return ", ".join(f"{f.name}: {type_name(f.type)}" for f in node.outputs)


def _details(node: Node) -> list[str]:
    p = node.params
    if isinstance(p, StepParams):
        return [f"version: {p.version}"]
    if isinstance(p, HumanParams):
        return _human_details(p)
    if isinstance(p, LoopParams):
        body = [line for n in p.body.nodes if n.op is not Op.INPUT for line in format_node(n)]
        return [f"max_iters: {p.max_iters}, on_max_iters: {p.on_max_iters!r}", "body:", *body]
    if not isinstance(p, PredictParams):
        return []
    lines = [f"instructions: {p.instructions!r}"]
    if p.demos:
        source = f" (from {p.provenance['optimizer']})" if p.provenance.get("optimizer") else ""
        lines.append(f"demos: {len(p.demos)}{source}")
    if p.provenance.get("chosen") is not None:  # a search optimizer: what it kept, and why
        prov = p.provenance
        lines.append(f"chosen by {prov['optimizer']}: {prov['chosen']} (score {prov['score']:.3f} on "
                     f"{prov.get('items', '?')} items, {prov.get('trials', '?')} trials)")
    extras: dict[str, Any] = {"lm": p.lm, "adapter": p.adapter, **p.settings}
    if not p.reusable:
        extras["reusable"] = False
    shown = ", ".join(f"{k}={v!r}" for k, v in extras.items() if v is not None)
    return lines + ([shown] if shown else [])


def _human_details(p: HumanParams) -> list[str]:
    lines = [f"question: {p.question!r}"]
    if p.timeout is not None:
        lines.append(f"timeout={p.timeout:g}s, default={dict(p.default or {})!r}")
    return lines

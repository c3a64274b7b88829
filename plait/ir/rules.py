"""The IR's rule for each op: how its params serialize, what of them enters the content key, how
its node prints, which params the verifier expects and which sub-plans it holds.

``RULES[op]`` is looked up wherever an op's behaviour is chosen (serialize, fingerprint, printer,
verify, diff), as JAX looks up ``dce_rules[prim]``: adding an op is one new rule here (and one
``run_<op>`` in the runtime, one style in the display). A rule that recurses into a sub-plan (a
LOOP's body) is handed the recursion (``plan_json``, ``plan_from``, ``fingerprint``,
``format_node``) by its caller: this module sits below the serializer and the printer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from plait.ir.nodes import (
    HumanParams,
    LoopParams,
    Node,
    Op,
    PredictParams,
    RetrieveParams,
    StepParams,
)
from plait.ir.signatures import (
    signature_call,
    signature_from_json,
    signature_key,
    signature_to_json,
)
from plait.ir.tools import Tool
from plait.ir.locations import import_qualified
from plait.ir.types import type_name

if TYPE_CHECKING:  # sub-plans only pass through: the Plan module imports the printer, which imports this
    from plait.ir.plan import Plan

Json = dict[str, Any]


class OpRule:
    """The defaults: an op without params (INPUT, OUTPUT) that prints as ``id = op(args) -> (fields)``."""

    params_type: type | None = None  # what the verifier expects in node.params
    traced = False  # its recorded outputs enter an item's trace (what optimizers turn into demos)

    def to_json(self, params: Any, plan_json: Callable[[Plan], Json]) -> Json | None:
        return None

    def from_json(self, data: Any, plan_from: Callable[[Json], Plan]) -> Any:
        return None

    def key(self, params: Any, fingerprint: Callable[[Node], str]) -> Any:
        """The params' part of the node's fingerprint: what changes the result, nothing else."""
        return None

    def version(self, params: Any) -> str | None:
        """A version the current code or data decides on load (a step's source, a corpus)."""
        return None

    def bodies(self, params: Any) -> tuple[Plan, ...]:
        """Sub-plans the node holds: verified and diffed like plans of their own."""
        return ()

    def diffed(self, data: Json) -> Json:
        """The saved params as a plan diff compares them: one entry per thing a reader would name."""
        return data

    def call(self, node: Node) -> str:
        return node.op.value

    def details(self, node: Node, format_node: Callable[[Node], list[str]]) -> list[str]:
        return []

    def format(self, node: Node, format_node: Callable[[Node], list[str]]) -> list[str]:
        """The node's lines in the plan's text form."""
        key = f"  #{node.fingerprint[:8]}" if node.fingerprint else ""
        fields = ", ".join(f"{f.name}: {type_name(f.type)}" for f in node.outputs)
        head = f"  {node.id} = {self.call(node)}({format_args(node)}) -> ({fields}){key}{_where(node)}"
        return [head, *(f"      {line}" for line in self.details(node, format_node))]


def format_args(node: Node) -> str:
    return ", ".join(f"{p.name}={p.ref}" if p.ref else f"{p.name}={p.const!r}" for p in node.inputs)


def _where(node: Node) -> str:
    return f"  @ {node.source}" if node.source else ""


def _signature_diffed(data: Json) -> Json:
    """A signature by its instructions and its fields: its class name never reaches the prompt."""
    sig, rest = data["signature"], {k: v for k, v in data.items() if k != "signature"}
    return {**rest, "instructions": sig["instructions"],
            "signature fields": {"inputs": sig["inputs"], "outputs": sig["outputs"]}}


class OutputRule(OpRule):
    def format(self, node: Node, format_node: Callable[[Node], list[str]]) -> list[str]:
        return [f"  return ({format_args(node)}){_where(node)}"]


class PredictRule(OpRule):
    params_type, traced = PredictParams, True

    def to_json(self, p: PredictParams, plan_json: Callable[[Plan], Json]) -> Json:
        return {"signature": signature_to_json(p.signature), "demos": to_jsonable_python(list(p.demos)),
                "adapter": p.adapter, "lm": p.lm, "settings": to_jsonable_python(dict(p.settings)),
                "reusable": p.reusable, "provenance": to_jsonable_python(dict(p.provenance))}

    def from_json(self, data: Json, plan_from: Callable[[Json], Plan]) -> PredictParams:
        return PredictParams(signature_from_json(data["signature"]), tuple(data["demos"]), data["adapter"],
                             data["lm"], data["settings"], data["reusable"], data["provenance"])

    def key(self, p: PredictParams, fingerprint: Callable[[Node], str]) -> Json:
        return {"signature": signature_key(p.signature), "demos": to_jsonable_python(list(p.demos)),
                "adapter": p.adapter, "lm": p.lm, "settings": to_jsonable_python(dict(p.settings))}

    def diffed(self, data: Json) -> Json:
        return _signature_diffed(data)

    def call(self, node: Node) -> str:
        return signature_call("predict", node.params.signature)

    def details(self, node: Node, format_node: Callable[[Node], list[str]]) -> list[str]:
        p = node.params
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


class StepRule(OpRule):
    params_type, traced = StepParams, True

    def to_json(self, p: StepParams, plan_json: Callable[[Plan], Json]) -> Json:
        return {"path": p.path, "version": p.version, "reusable": p.reusable, **({"pure": True} if p.pure else {})}

    def from_json(self, data: Json, plan_from: Callable[[Json], Plan]) -> StepParams:
        func = import_qualified(data["path"])
        # The current code decides the version: a step edited since the save gets a new key.
        version = getattr(func, "version", None) or data["version"]
        return StepParams(getattr(func, "func", func), data["path"], version, data["reusable"], data.get("pure", False))

    def key(self, p: StepParams, fingerprint: Callable[[Node], str]) -> Json:
        return {"version": p.version}  # a step's identity is its code, not where it lives

    def version(self, p: StepParams) -> str:
        return p.version

    def call(self, node: Node) -> str:
        return f"step {node.params.path}"

    def details(self, node: Node, format_node: Callable[[Node], list[str]]) -> list[str]:
        pure = ["pure: recomputed when needed, not recorded"] if node.params.pure else []
        return [f"version: {node.params.version}", *pure]


class HumanRule(OpRule):
    params_type = HumanParams

    def to_json(self, p: HumanParams, plan_json: Callable[[Plan], Json]) -> Json:
        return {"signature": signature_to_json(p.signature), "timeout": p.timeout,
                "default": to_jsonable_python(p.default), "reusable": p.reusable}

    def from_json(self, data: Json, plan_from: Callable[[Json], Plan]) -> HumanParams:
        return HumanParams(signature_from_json(data["signature"]), data["timeout"], data["default"], data["reusable"])

    def key(self, p: HumanParams, fingerprint: Callable[[Node], str]) -> Json:
        return {"signature": signature_key(p.signature), "timeout": p.timeout,
                "default": to_jsonable_python(p.default)}

    def diffed(self, data: Json) -> Json:
        return _signature_diffed(data)

    def call(self, node: Node) -> str:
        return signature_call("human", node.params.signature)

    def details(self, node: Node, format_node: Callable[[Node], list[str]]) -> list[str]:
        p = node.params
        lines = [f"question: {p.question!r}"]
        if p.timeout is not None:
            lines.append(f"timeout={p.timeout:g}s, default={dict(p.default or {})!r}")
        return lines


class LoopRule(OpRule):
    params_type = LoopParams

    def to_json(self, p: LoopParams, plan_json: Callable[[Plan], Json]) -> Json:
        return {"body": plan_json(p.body), "tools": [{"path": t.path, "version": t.version} for t in p.tools],
                "max_iters": p.max_iters, "on_max_iters": p.on_max_iters, "reusable": p.reusable}

    def from_json(self, data: Json, plan_from: Callable[[Json], Plan]) -> LoopParams:
        tools = tuple(Tool(import_qualified(t["path"])) for t in data["tools"])  # the current code decides
        return LoopParams(plan_from(data["body"]), tools, data["max_iters"], data["on_max_iters"], data["reusable"])

    def key(self, p: LoopParams, fingerprint: Callable[[Node], str]) -> Json:
        """The body by its nodes' fingerprints and wiring (producers by position, not by id)."""
        position = {n.id: i for i, n in enumerate(p.body.nodes)}
        body = [[fingerprint(n), [[q.name, position.get(q.ref.node), q.ref.field] if q.ref else None
                                  for q in n.inputs]] for n in p.body.nodes]
        return {"body": body, "tools": [[t.name, t.version] for t in p.tools],
                "max_iters": p.max_iters, "on_max_iters": p.on_max_iters}

    def bodies(self, p: LoopParams) -> tuple[Plan, ...]:
        return (p.body,)

    def diffed(self, data: Json) -> Json:
        return {k: v for k, v in data.items() if k != "body"}  # the body is diffed node by node

    def call(self, node: Node) -> str:
        tools = node.params.tools
        return f"loop[tools: {', '.join(t.name for t in tools)}]" if tools else "loop"

    def details(self, node: Node, format_node: Callable[[Node], list[str]]) -> list[str]:
        p = node.params
        body = [line for n in p.body.nodes if n.op is not Op.INPUT for line in format_node(n)]
        return [f"max_iters: {p.max_iters}, on_max_iters: {p.on_max_iters!r}", "body:", *body]


class RetrieveRule(OpRule):
    """Saved as the searcher's ``spec``; on load the class at ``path`` rebuilds the searcher with
    ``from_spec`` and the corpus as it is now decides the index key."""

    params_type, traced = RetrieveParams, True

    def to_json(self, p: RetrieveParams, plan_json: Callable[[Plan], Json]) -> Json:
        spec = {"method": p.method, "k": p.k, "corpus": to_jsonable_python(dict(p.corpus)), "index_dir": p.index_dir}
        return {"path": p.path, "spec": spec, "index_key": p.index_key, "version": p.version, "reusable": p.reusable}

    def from_json(self, data: Json, plan_from: Callable[[Json], Plan]) -> RetrieveParams:
        spec = data["spec"]
        search = import_qualified(data["path"]).from_spec(spec)
        return RetrieveParams(search, data["path"], spec["corpus"], spec["method"], spec["k"], search.index_key,
                              spec.get("index_dir"), data.get("reusable", True))

    def key(self, p: RetrieveParams, fingerprint: Callable[[Node], str]) -> Json:
        return {"index_key": p.index_key, "k": p.k}  # the corpus content and settings, not its location

    def version(self, p: RetrieveParams) -> str:
        return p.version

    def diffed(self, data: Json) -> Json:
        """The search settings one by one; the version only restates the index key and k."""
        rest = {k: v for k, v in data.items() if k not in ("spec", "version")}
        return {**rest, **data["spec"]}

    def call(self, node: Node) -> str:
        return f"retrieve[{node.params.method}, k={node.params.k}]"

    def details(self, node: Node, format_node: Callable[[Node], list[str]]) -> list[str]:
        corpus = node.params.corpus
        where = corpus["path"] if "path" in corpus else f"{len(corpus.get('records', ()))} inline passages"
        return [f"corpus: {where}", f"index: {node.params.index_key}"]


RULES: dict[Op, OpRule] = {
    Op.INPUT: OpRule(), Op.PREDICT: PredictRule(), Op.STEP: StepRule(), Op.HUMAN: HumanRule(),
    Op.LOOP: LoopRule(), Op.RETRIEVE: RetrieveRule(), Op.OUTPUT: OutputRule(),
}
DEFAULT_RULE = OpRule()  # an op this plait does not know has no params to read


def rule_for(op: Op) -> OpRule:
    return RULES.get(op, DEFAULT_RULE)

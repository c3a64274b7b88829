"""The plan a journaled DSPy program's runs are stored under, and how such a program is reloaded.

A program run by ``plait.durable`` is not traced: its ``forward`` runs as written. Its runs are
still ordinary runs, so they need a plan: an INPUT node (``forward``'s parameters), one PREDICT
node per DSPy predictor (id: the program's name and the predictor's ``named_predictors`` path,
prompt state: its signature and demos), and an OUTPUT node. The PREDICT nodes carry no wires: the
order and the inputs of the calls are ``forward``'s, recorded per call in the journal. Displays,
``plait show`` and the LM and policy resolution read this plan like any other.

``plan.meta["durable"]`` records what reloads the program in another process (``plait resume``):
its importable class path and its DSPy state (``dump_state``: demos and instructions).
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import dspy

from plait.errors import PlaitError
from plait.ir.nodes import Field, Node, Op, Port, PredictParams, Ref
from plait.ir.plan import Plan
from plait.ir.source import SourceLoc

INPUT_ID, OUTPUT_ID = "inputs", "outputs"


def durable_plan(program: dspy.Module, name: str | None = None) -> Plan:
    """The run plan of ``program`` (see the module docstring), named ``name`` (default: from its
    class); not fingerprinted yet."""
    name = name or plan_name(program)
    params = forward_parameters(program)
    where = _source(program)
    nodes = [Node(INPUT_ID, Op.INPUT, outputs=tuple(Field(p, Any) for p in params), source=where)]
    nodes += [predict_node(f"{name}.{path}", predictor, where) for path, predictor in program.named_predictors()]
    first = params[0] if params else None
    ports = (Port(first, Any, ref=Ref(INPUT_ID, first)),) if first else ()  # the verifier wants every input read
    nodes.append(Node(OUTPUT_ID, Op.OUTPUT, inputs=ports, source=where))
    meta = {"durable": {"program": class_path(program), "state": program.dump_state()}}
    return Plan(name, nodes, meta)


def predict_node(node_id: str, predictor: dspy.Predict, where: SourceLoc | None) -> Node:
    """A predictor's PREDICT node: its signature and demos are its prompt state."""
    signature = predictor.signature
    inputs = tuple(Port(n, f.annotation, const=None) for n, f in signature.input_fields.items())
    outputs = tuple(Field(n, f.annotation) for n, f in signature.output_fields.items())
    demos = tuple(_demo(d) for d in predictor.demos)
    return Node(node_id, Op.PREDICT, inputs=inputs, outputs=outputs,
                params=PredictParams(signature=signature, demos=demos), source=where)


def plan_name(program: dspy.Module) -> str:
    """``MultiHopQA`` -> ``multi_hop_qa``: the prefix of the program's node ids."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type(program).__name__).lower()


def forward_parameters(program: dspy.Module) -> list[str]:
    """The names ``forward`` takes by keyword: the fields every item must have."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    forward = type(program).forward
    params = list(inspect.signature(forward).parameters.values())[1:]  # without self
    names = [p.name for p in params if p.kind in kinds]
    if not names:
        raise PlaitError(f"{type(program).__name__}.forward takes no named parameters", field="forward",
                         source=_source(program), expected="forward(self, question, ...): one parameter per item field",
                         found=str(inspect.signature(forward)),
                         fix="name forward's parameters after the fields of the dataset's items")
    return names


def class_path(program: dspy.Module) -> str:
    return f"{type(program).__module__}:{type(program).__qualname__}"


def load_program(meta: dict[str, Any], run_id: str) -> dspy.Module:
    """The program a durable run ran: its class, built with no arguments, with the recorded state."""
    path = meta["program"]
    module_name, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
        program = target()
    except Exception as exc:
        raise PlaitError(f"cannot rebuild the DSPy program of run {run_id} from '{path}'", field="program",
                         expected="an importable dspy.Module class whose __init__ needs no arguments",
                         found=f"{type(exc).__name__}: {exc}",
                         fix="resume with the program object: plait.durable(program).resume(run_id, store=...)") from None
    program.load_state(meta.get("state") or {})
    return program


def _demo(demo: Any) -> dict[str, Any]:
    return dict(demo.toDict()) if hasattr(demo, "toDict") else dict(demo)


def _source(program: dspy.Module) -> SourceLoc | None:
    try:
        lines, start = inspect.getsourcelines(type(program).forward)
        return SourceLoc(inspect.getsourcefile(type(program).forward) or "?", start)
    except (OSError, TypeError):
        return None

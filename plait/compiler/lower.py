"""Lowering: trace a program's ``forward`` on symbolic inputs into a Plan."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from plait.errors import TraceError
from plait.ir.nodes import Field, Node, Op, Ref
from plait.ir.plan import Plan
from plait.ir.source import SourceLoc, source_at, user_source
from plait.pipeline.module import Module, default_name
from plait.pipeline.predict import Predict
from plait.pipeline.tracing import Symbol, Tracer, output_ports

INPUT_ID = "inputs"
OUTPUT_ID = "outputs"


def lower(program: Module, name: str | None = None) -> Plan:
    """Trace ``program`` once; return its Plan (INPUT, one node per call, OUTPUT)."""
    if not isinstance(program, Module):
        raise TraceError(
            f"plait.compile expects a plait.Module, got {type(program).__name__}",
            source=user_source(), fix="subclass plait.Module and define forward(), or pass a plait.Predict",
        )
    name = name or default_name(program)
    tracer = Tracer({id(m): p for p, m in program.named_modules(name)})
    inputs = _input_node(program)
    symbols = {f.name: Symbol(Ref(INPUT_ID, f.name), f.type) for f in inputs.outputs}
    with tracer.active():
        result = program(**symbols)
        outputs = output_ports(result)  # in the trace: a formatted string becomes its template node
    output = Node(OUTPUT_ID, Op.OUTPUT, inputs=outputs, source=inputs.source)
    return Plan(name, [inputs, *tracer.nodes, output])


def _input_node(program: Module) -> Node:
    if isinstance(program, Predict) or getattr(program, "inputs_from_signature", False):
        fields = tuple(Field(n, f.annotation) for n, f in program.signature.input_fields.items())
        return Node(INPUT_ID, Op.INPUT, outputs=fields, source=user_source())
    forward = type(program).forward
    params = list(inspect.signature(forward).parameters.values())[1:]
    hints = _hints(forward)
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TraceError(
                f"{type(program).__name__}.forward takes *{p.name}; plait needs named inputs",
                field=p.name, field_kind="parameter", source=_def_source(forward),
                fix="declare each input as a named parameter: def forward(self, question: str)",
            )
    fields = tuple(Field(p.name, hints.get(p.name, Any)) for p in params)
    return Node(INPUT_ID, Op.INPUT, outputs=fields, source=_def_source(forward))


def _def_source(func: Any) -> SourceLoc | None:
    try:
        return source_at(inspect.getsourcefile(func) or "?", inspect.getsourcelines(func)[1])
    except (OSError, TypeError):
        return None


def _hints(func: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: treat those inputs as untyped
        return {}

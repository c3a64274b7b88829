"""``plait.loop``: a user-written loop, recorded as one LOOP node whose body is traced once.

The body is a ``@plait.step`` function or a ``plait.Module``. It is called with the loop's inputs
it declares and, if it declares it, ``trajectory``: the list of entries earlier iterations
returned. It returns one iteration's entry (a dict of values, or a step's dict) with a ``done``
field: True ends the loop. The executor records each entry as its own journal row, so storage
grows with the entries, never with a copy of the whole history per iteration.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from plait.errors import TraceError
from plait.ir.nodes import BODY_INPUT, BODY_OUTPUT, LOOP_OUTPUTS, TRAJECTORY, Field, LoopParams, Node, Op, Port, Ref
from plait.ir.plan import Plan
from plait.ir.source import user_source
from plait.pipeline.module import Module
from plait.pipeline.step import Step
from plait.pipeline.tracing import Symbol, SymbolicPrediction, Tracer, current_tracer, output_ports, port_for

ON_MAX_ITERS = ("error", "return")


def loop(body: Any, *, max_iters: int, on_max_iters: str = "error", reusable: bool = True, **inputs: Any) -> Any:
    """Run ``body`` once per iteration until its entry says ``done`` or ``max_iters`` is reached.

    Returns a prediction with ``trajectory`` (all entries), ``last``, ``iterations`` and
    ``finished``. ``on_max_iters='error'`` (the default) fails the node when the loop has not
    finished after ``max_iters``; ``'return'`` ends it with ``finished`` False. A crash resumes at
    the last finished iteration: recorded iterations replay with no LM call.

    Example::

        @plait.step
        def count(start: int, trajectory: list[dict]) -> dict:
            n = trajectory[-1]["n"] + 1 if trajectory else start
            return {"n": n, "done": n >= 5}

        class Counter(plait.Module):
            def forward(self, start: int):
                counted = plait.loop(count, max_iters=10, start=start)
                return {"last": counted.last, "iterations": counted.iterations}

        plait.compile(Counter())(start=2)  # last={'done': True, 'n': 5}, iterations=4
    """
    tracer = current_tracer()
    if tracer is None:
        raise TraceError("plait.loop is called outside a traced pipeline", source=user_source(),
                         fix="call plait.loop inside the forward() of a plait.Module, then plait.compile it")
    node_id = tracer.unique_id(tracer.path_of(body) if isinstance(body, Module) else f"{tracer.scope}.loop")
    return record_loop(tracer, node_id, body, _accepted(body), inputs, (), max_iters, on_max_iters, reusable)


def record_loop(tracer: Tracer, node_id: str, body: Callable[..., Any], accepted: list[str], inputs: dict[str, Any],
                tools: tuple, max_iters: int, on_max_iters: str, reusable: bool) -> SymbolicPrediction:
    """Trace ``body`` into a Plan and record the LOOP node that runs it."""
    _check_limits(node_id, max_iters, on_max_iters)
    ports = tuple(port_for(node_id, name, _type_of(value), value) for name, value in inputs.items())
    plan = trace_body(tracer, node_id, body, ports, accepted)
    _check_entry(node_id, plan, tools)
    params = LoopParams(plan, tools, max_iters, on_max_iters, reusable)
    tracer.record(Node(node_id, Op.LOOP, ports, LOOP_OUTPUTS, params, user_source()))
    return SymbolicPrediction(node_id, LOOP_OUTPUTS)


def trace_body(tracer: Tracer, node_id: str, body: Callable[..., Any], ports: tuple[Port, ...],
               accepted: list[str]) -> Plan:
    fields = [Field(p.name, p.type) for p in ports if p.name in accepted]
    if TRAJECTORY in accepted:
        fields.append(Field(TRAJECTORY, list[dict[str, Any]]))
    start = Node(BODY_INPUT, Op.INPUT, outputs=tuple(fields), source=user_source())
    symbols = {f.name: Symbol(Ref(BODY_INPUT, f.name), f.type) for f in fields}
    inner = tracer.child()
    with inner.active():
        result = body(**symbols)
        outputs = output_ports(result)
    end = Node(BODY_OUTPUT, Op.OUTPUT, inputs=outputs, source=start.source)
    return Plan(f"{node_id}.body", [start, *inner.nodes, end])


def _accepted(body: Any) -> list[str]:
    """The parameters the body declares (of its forward, for a Module)."""
    func = type(body).forward if isinstance(body, Module) else body.func if isinstance(body, Step) else body
    if not callable(func):
        raise TraceError(f"plait.loop's body is a {type(body).__name__}", source=user_source(),
                         expected="a @plait.step function or a plait.Module", found=repr(body)[:100],
                         fix="decorate the body function with @plait.step, or make it a plait.Module")
    params = list(inspect.signature(func).parameters)
    return params[1:] if isinstance(body, Module) else params


def _check_limits(node_id: str, max_iters: Any, on_max_iters: str) -> None:
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise TraceError(f"loop '{node_id}' has max_iters={max_iters!r}", node=node_id, field="max_iters",
                         source=user_source(), expected="an int >= 1", found=repr(max_iters),
                         fix="pass max_iters=10 (or the most iterations the loop may take)")
    if on_max_iters not in ON_MAX_ITERS:
        raise TraceError(f"loop '{node_id}' has on_max_iters={on_max_iters!r}", node=node_id, field="on_max_iters",
                         source=user_source(), expected="'error' or 'return'", found=repr(on_max_iters),
                         fix="pass on_max_iters='error' (fail the node) or 'return' (end with finished=False)")


def _check_entry(node_id: str, body: Plan, tools: tuple) -> None:
    """The body's entry must say when to stop: a ``done`` field (a single dict output is checked at run time)."""
    inner = next((n for n in body.nodes if n.op is Op.LOOP), None)
    if inner is not None:
        raise TraceError(f"loop '{inner.id}' is inside the body of loop '{node_id}'", node=node_id,
                         source=inner.source, expected="a body of LM calls and steps", found=f"the loop '{inner.id}'",
                         fix="run the inner loop as its own loop before or after this one, or fold its work into "
                         "the outer body's iterations")
    names = [p.name for p in body.of_op(Op.OUTPUT)[0].inputs]
    needed = ["next_tool_name", "next_tool_args"] if tools else ["done"]
    if names == ["output"] and not tools:
        return
    missing = [n for n in needed if n not in names]
    if missing:
        raise TraceError(
            f"the body of loop '{node_id}' returns no '{missing[0]}' field", node=node_id, field=missing[0],
            field_kind="body output", source=user_source(), expected=f"an entry with {', '.join(needed)}",
            found=f"the fields {', '.join(names)}",
            fix="return a dict with 'done': a bool (True ends the loop), e.g. {'n': step.n, 'done': step.done}, "
            "or a step that returns such a dict")


def _type_of(value: Any) -> Any:
    return value._type if isinstance(value, Symbol) else Any

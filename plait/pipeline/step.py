"""``@plait.step``: plain Python glue between LM calls, recorded and reused like any node."""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any, Callable

from plait.errors import TraceError
from plait.hashing import code_version
from plait.ir.locations import qualified_name
from plait.ir.nodes import Field, Node, Op, Port, Ref, StepParams
from plait.ir.source import user_source
from plait.pipeline.tracing import Symbol, current_tracer, port_for

STEP_OUTPUT = "output"


class Step:
    """A function recorded as a STEP node when called inside a traced pipeline.

    Called outside a trace it is the plain function. Its code version, part of every content key
    of its node, is a hash of its normalized source (comments, docstrings and formatting ignored);
    pass ``version=`` to pin it by hand, e.g. when the logic lives in a helper it calls. A ``pure``
    step is recomputed whenever it is needed instead of being recorded (see StepParams).
    """

    def __init__(self, func: Callable[..., Any], version: str | None = None, reusable: bool = True,
                 pure: bool = False) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        self.version = version or code_version(func)
        self.reusable = reusable
        self.pure = pure
        self.path = qualified_name(func)  # a script's step by its file, not as __main__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = current_tracer()
        if tracer is None:
            return self.func(*args, **kwargs)
        node_id = tracer.unique_id(f"{tracer.scope}.{self.func.__name__}")
        ports = self._ports(node_id, args, kwargs)
        output = Field(STEP_OUTPUT, _return_type(self.func))
        params = StepParams(self.func, self.path, self.version, self.reusable, self.pure)
        tracer.record(Node(node_id, Op.STEP, ports, (output,), params, user_source()))
        return Symbol(Ref(node_id, STEP_OUTPUT), output.type)

    def _ports(self, node_id: str, args: tuple, kwargs: dict) -> tuple[Port, ...]:
        sig = inspect.signature(self.func)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TraceError(
                f"step '{node_id}' is called with arguments that do not match its definition",
                node=node_id, source=user_source(), expected=f"{self.func.__name__}{sig}",
                found=str(exc), fix="call the step with the parameters it declares",
            ) from None
        bound.apply_defaults()
        hints = _hints(self.func)
        return tuple(port_for(node_id, name, hints.get(name, Any), value) for name, value in bound.arguments.items())


def step(func: Callable[..., Any] | None = None, *, version: str | None = None, reusable: bool = True,
         pure: bool = False) -> Any:
    """Declare a Python function as a pipeline step.

    Example::

        @plait.step
        def join(titles: list[str]) -> str:
            return "\\n".join(titles)

    ``pure=True``: the step is cheap and deterministic (its output depends only on its inputs and
    code), so plait recomputes it when needed, on replay too, instead of journaling its output.
    """
    if func is None:
        return lambda f: Step(f, version=version, reusable=reusable, pure=pure)
    return Step(func, version=version, reusable=reusable, pure=pure)


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolved forward references: fall back to untyped ports
        return {}


def _return_type(func: Callable[..., Any]) -> Any:
    return _hints(func).get("return", Any)

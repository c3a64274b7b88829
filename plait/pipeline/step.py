"""``@plait.step``: plain Python glue between LM calls, recorded and reused like any node."""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import textwrap
import typing
from typing import Any, Callable

from plait.errors import TraceError
from plait.ir.nodes import Field, Node, Op, Port, Ref, StepParams
from plait.pipeline.tracing import Symbol, current_tracer, port_for, user_source

STEP_OUTPUT = "output"


class Step:
    """A function recorded as a STEP node when called inside a traced pipeline.

    Called outside a trace it is the plain function. Its code version, part of every content key
    of its node, is a hash of its normalized source (comments, docstrings and formatting ignored);
    pass ``version=`` to pin it by hand, e.g. when the logic lives in a helper it calls.
    """

    def __init__(self, func: Callable[..., Any], version: str | None = None, reusable: bool = True) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        self.version = version or code_version(func)
        self.reusable = reusable
        self.path = f"{func.__module__}:{func.__qualname__}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = current_tracer()
        if tracer is None:
            return self.func(*args, **kwargs)
        node_id = tracer.unique_id(f"{tracer.scope}.{self.func.__name__}")
        ports = self._ports(node_id, args, kwargs)
        output = Field(STEP_OUTPUT, _return_type(self.func))
        params = StepParams(self.func, self.path, self.version, self.reusable)
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


def step(func: Callable[..., Any] | None = None, *, version: str | None = None, reusable: bool = True) -> Any:
    """Declare a Python function as a pipeline step.

    Example::

        @plait.step
        def join(titles: list[str]) -> str:
            return "\\n".join(titles)
    """
    if func is None:
        return lambda f: Step(f, version=version, reusable=reusable)
    return Step(func, version=version, reusable=reusable)


def code_version(func: Callable[..., Any]) -> str:
    """sha256 of the function's source with comments, docstrings, decorators and its name removed."""
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        raise TraceError(
            f"cannot read the source of step {func.__qualname__}",
            fix="define the step in a file, or give it an explicit version: @plait.step(version='1')",
        ) from None
    return source_version(source)


def source_version(source: str) -> str:
    """The version of a function's source text: its AST with the irrelevant parts removed."""
    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.decorator_list = []
            if node.body and _is_docstring(node.body[0]):
                node.body = node.body[1:] or [ast.Pass()]
    if tree.body and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        tree.body[0].name = "_"
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()[:16]


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolved forward references: fall back to untyped ports
        return {}


def _return_type(func: Callable[..., Any]) -> Any:
    return _hints(func).get("return", Any)

"""Tracing: run ``forward`` on symbolic values and record every module call as an IR node.

While a :class:`Tracer` is active (a context variable, so concurrent traces never mix), calling a
Predict or a step records a node and returns symbols that stand for its outputs. Python cannot
branch, loop or compute on a symbol (its value exists only at run time), so every such use raises
a :class:`TraceError` at the user's line saying what to do instead. Formatting one into a string is
the exception: it becomes a template node (template.py).
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from plait.errors import TraceError
from plait.ir.nodes import Field, Node, Port, Ref
from plait.ir.source import user_source
from plait.ir.types import type_name
from plait.pipeline.template import TEXT_OUTPUT, Placeholders, fill_node

_current: ContextVar[Tracer | None] = ContextVar("plait_tracer", default=None)

STEP_FIX = (
    "move this logic into a @plait.step function and call it with the symbolic value; "
    "the step runs at execution time, when the value exists"
)


class Tracer:
    """Collects the nodes of one trace; module paths come from the module tree."""

    def __init__(self, paths: dict[int, str]) -> None:
        self.nodes: list[Node] = []
        self._paths = paths
        self._scopes: list[str] = []
        self._used: dict[str, int] = {}
        self.placeholders = Placeholders()  # f-strings on symbols (template.py)
        self.control_flow_fix = STEP_FIX  # a traced DSPy program also names plait.durable

    def path_of(self, module: Any) -> str:
        return self._paths.get(id(module)) or self.scope

    @property
    def scope(self) -> str:
        return self._scopes[-1] if self._scopes else next(iter(self._paths.values()), "program")

    def unique_id(self, base: str) -> str:
        """``base`` the first time, then ``base#1``, ``base#2``: loops over constants unroll."""
        count = self._used.get(base, 0)
        self._used[base] = count + 1
        return base if count == 0 else f"{base}#{count}"

    def child(self) -> Tracer:
        """A tracer for a loop's body: its own node list, the same module paths, scope and id counts."""
        inner = Tracer(self._paths)
        inner._scopes, inner._used = list(self._scopes), self._used
        inner.placeholders = self.placeholders
        inner.control_flow_fix = self.control_flow_fix
        return inner

    def record(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def text(self, text: str) -> Symbol | str:
        """A string built by formatting symbols, as the output of a pure node that fills it in at run
        time; a string with no symbol in it stays the constant it is."""
        template, holes = self.placeholders.template(text)
        if not holes:
            return text
        node = self.record(fill_node(self.unique_id(f"{self.scope}.format"), template, holes))
        return Symbol(Ref(node.id, TEXT_OUTPUT), str)

    @contextmanager
    def scope_of(self, module: Any):
        self._scopes.append(self.path_of(module))
        try:
            yield
        finally:
            self._scopes.pop()

    @contextmanager
    def active(self):
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


def current_tracer() -> Tracer | None:
    return _current.get()


class Symbol:
    """A field's value at trace time: only a reference to a node output and its type."""

    __slots__ = ("_ref", "_type")

    def __init__(self, ref: Ref, type_: Any) -> None:
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", type_)

    def __repr__(self) -> str:
        return f"<symbolic {self._ref}: {type_name(self._type)}>"

    def _refuse(self, what: str) -> TraceError:
        return TraceError(
            f"{what} on the symbolic value {self._ref} while tracing",
            node=self._ref.node,
            field=self._ref.field,
            source=user_source(),
            expected="plait modules and steps called on symbolic values",
            found=f"{what}: the value of {self._ref} exists only when the pipeline runs",
            fix=tracer.control_flow_fix if (tracer := current_tracer()) else STEP_FIX,
        )

    def __bool__(self):
        raise self._refuse("control flow (if/while/and/or/bool())")

    def __iter__(self):
        raise self._refuse("iteration (for/unpacking/list())")

    def __len__(self):
        raise self._refuse("len()")

    def __contains__(self, item):
        raise self._refuse("a membership test ('in')")

    def __getitem__(self, key):
        raise self._refuse("indexing")

    def __eq__(self, other):
        raise self._refuse("comparison (==)")

    def __ne__(self, other):
        raise self._refuse("comparison (!=)")

    __hash__ = object.__hash__

    # Formatting gives a placeholder that becomes a pure template node where the string is used
    # (template.py); a str is the only type + joins with, so + with a str does the same.
    def __format__(self, spec):
        tracer = current_tracer()
        if tracer is None:
            raise self._refuse("string formatting (f-string/format())")
        return tracer.placeholders.token(self._ref, self._type, spec)

    def __str__(self):
        return self.__format__("")

    def __add__(self, other):
        return self._joined(other, lambda text: text + other)

    def __radd__(self, other):
        return self._joined(other, lambda text: other + text)

    def _joined(self, other, join):
        if not isinstance(other, str) or self._type not in (str, Any):
            raise self._refuse("the operator +")
        return join(self.__format__(""))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)  # protocol probes (copy, numpy) must see a plain miss
        raise self._refuse(f"attribute access '.{name}'")

    def __setattr__(self, name, value):
        raise self._refuse(f"attribute assignment '.{name}'")

    def __call__(self, *args, **kwargs):
        raise self._refuse("a call")


def _arithmetic(symbol_name: str):
    def refuse(self, *args):
        raise self._refuse(f"the operator {symbol_name}")

    return refuse


for _dunder, _sym in {
    "sub": "-", "rsub": "-", "mul": "*", "rmul": "*",
    "truediv": "/", "rtruediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
    "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "neg": "unary -", "and": "&", "or": "|",
    "int": "int()", "float": "float()", "index": "index()",
}.items():
    setattr(Symbol, f"__{_dunder}__", _arithmetic(_sym))


class SymbolicPrediction:
    """A node's outputs at trace time: ``pred.field`` gives that field's :class:`Symbol`."""

    __slots__ = ("_node", "_fields")

    def __init__(self, node_id: str, fields: tuple[Field, ...]) -> None:
        object.__setattr__(self, "_node", node_id)
        object.__setattr__(self, "_fields", {f.name: f.type for f in fields})

    def __getattr__(self, name: str) -> Symbol:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Symbol:
        if name not in self._fields:
            raise unknown_field_error(self._node, name, list(self._fields), "output field")
        return Symbol(Ref(self._node, name), self._fields[name])

    def symbols(self) -> dict[str, Symbol]:
        return {name: self[name] for name in self._fields}

    def __bool__(self):
        raise Symbol(Ref(self._node, "*"), Any)._refuse("control flow (if/while/and/or/bool())")

    def __iter__(self):
        raise Symbol(Ref(self._node, "*"), Any)._refuse("iteration (for/unpacking)")

    def __format__(self, spec):
        raise Symbol(Ref(self._node, "*"), Any)._refuse("string formatting of a whole prediction")

    __str__ = __format__

    def __repr__(self) -> str:
        return f"<symbolic prediction of {self._node}: {', '.join(self._fields)}>"


def unknown_field_error(node: str, name: str, known: list[str], kind: str) -> TraceError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return TraceError(
        f"unknown {kind} '{name}' of node '{node}'",
        node=node,
        field=name,
        field_kind=kind,
        source=user_source(),
        expected=f"one of {', '.join(known) or '(none)'}",
        found=f"'{name}'",
        fix=f"{hint}use one of the signature's {kind}s, or add '{name}' to the signature",
    )


def port_for(node_id: str, name: str, annotation: Any, value: Any) -> Port:
    """An input port for a call argument: wired to a symbol (or to the template node of a string
    formatted from symbols), or holding a constant."""
    value = _as_text(value, f"input '{name}' of node '{node_id}'")
    if isinstance(value, Symbol):
        return Port(name, annotation, ref=value._ref)
    if isinstance(value, SymbolicPrediction):
        raise TraceError(
            f"input '{name}' of node '{node_id}' is given a whole prediction",
            node=node_id, field=name, field_kind="input", source=user_source(),
            expected=type_name(annotation), found=repr(value),
            fix=f"pass one of its fields, e.g. {name}=prediction.{next(iter(value._fields), 'field')}",
        )
    return Port(name, annotation, const=value)


def output_ports(result: Any) -> tuple[Port, ...]:
    """The ports of an OUTPUT node for what ``forward`` (or a loop's body) returned."""
    if isinstance(result, SymbolicPrediction):
        result = result.symbols()
    elif isinstance(result, Symbol):
        result = {"output": result}
    if not isinstance(result, dict) or not result:
        raise TraceError(
            f"forward returned {type(result).__name__}; plait needs the pipeline's outputs",
            source=user_source(), expected="a prediction, a symbolic value, or a dict of them",
            found=repr(result), fix="return the last module's prediction, or a dict {'name': value}",
        )
    return tuple(_output_port(name, value) for name, value in result.items())


def _output_port(name: str, value: Any) -> Port:
    value = _as_text(value, f"output '{name}'")
    if isinstance(value, Symbol):
        return Port(name, value._type, ref=value._ref)
    if isinstance(value, SymbolicPrediction):
        raise TraceError(
            f"output '{name}' is a whole prediction", field=name, field_kind="output",
            source=user_source(), fix=f"return one of its fields, e.g. '{name}': prediction.answer",
        )
    return Port(name, type(value), const=value)


def _as_text(value: Any, where: str) -> Any:
    """A formatted string as its template node's symbol; refused inside a container, where plait
    cannot wire it (the container is a constant)."""
    tracer = current_tracer()
    if tracer is None or not tracer.placeholders.holds_token(value):
        return value
    if isinstance(value, str):
        return tracer.text(value)
    raise TraceError(
        f"{where} is a {type(value).__name__} holding a string formatted from a symbolic value",
        source=user_source(), expected="a symbolic value, a formatted string, or a constant",
        found=f"a {type(value).__name__} of strings built with f-strings or format() while tracing",
        fix="build the list or dict in a @plait.step (pure=True for cheap code) and pass the step's output",
    )

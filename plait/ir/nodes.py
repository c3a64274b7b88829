"""plait's IR: a Plan of Nodes, each with one op from a small closed set.

The ops (every node has exactly one):

- ``INPUT``   the item's fields. One per plan; no inputs; its outputs are the parameters of the
              root module's ``forward``.
- ``PREDICT`` one LM call: format the inputs with the node's prompt state (signature,
              instructions, demos, adapter), call the LM, parse the reply into typed outputs.
- ``STEP``    a plain Python function of its inputs (``@plait.step``); its code version is a hash of
              its normalized source.
- ``HUMAN``   a question to a person (``plait.HumanInput``): its inputs are the context shown,
              its outputs the typed answer. The item waits, durably, until someone answers.
- ``LOOP``    an agent loop (``plait.loop``, ``plait.ReAct``): runs its ``body``, a small Plan of
              its own, once per iteration until the body says ``done`` (or, with tools, picks the
              ``finish`` tool) or ``max_iters`` is reached. Each iteration is journaled on its own
              (iteration i, from 1) and holds only that iteration's new entry; the node's value
              (iteration 0) is the whole trajectory.
- ``OUTPUT``  the run's result. One per plan; its inputs are the fields ``forward`` returned; it
              has no outputs.

A node's inputs are :class:`Port` s wired by :class:`Ref` to a producer's output :class:`Field`, or
holding a constant. The networkx graph is an implementation detail of :class:`Plan` and never
leaves it.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import networkx as nx


class Op(str, enum.Enum):
    INPUT = "input"
    PREDICT = "predict"
    STEP = "step"
    HUMAN = "human"
    LOOP = "loop"
    OUTPUT = "output"


@dataclass(frozen=True)
class SourceLoc:
    """Where the user's code created a node: file and line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line}"


@dataclass(frozen=True)
class Ref:
    """Output ``field`` of node ``node``."""

    node: str
    field: str

    def __str__(self) -> str:
        return f"{self.node}.{self.field}"


@dataclass(frozen=True)
class Port:
    """A node input: wired to a producer (``ref``) or holding a JSON constant (``const``)."""

    name: str
    type: Any
    ref: Ref | None = None
    const: Any = None


@dataclass(frozen=True)
class Field:
    """A typed output field."""

    name: str
    type: Any
    desc: str = ""


@dataclass(frozen=True)
class PredictParams:
    """A PREDICT node's prompt state and LM choice. ``signature`` is a DSPy Signature class."""

    signature: Any
    demos: tuple[Mapping[str, Any], ...] = ()
    adapter: str | None = None  # None: the LM's preferred adapter
    lm: str | None = None  # None: the configured default LM
    settings: Mapping[str, Any] = field(default_factory=dict)
    reusable: bool = True  # False: replay only from this run's journal, never another run's output
    provenance: Mapping[str, Any] = field(default_factory=dict)  # which optimizer set the demos

    @property
    def instructions(self) -> str:
        return self.signature.instructions


@dataclass(frozen=True)
class StepParams:
    """A STEP node's function, its import path and its code version."""

    func: Callable[..., Any]
    path: str  # module:qualname
    version: str
    reusable: bool = True


@dataclass(frozen=True)
class HumanParams:
    """A HUMAN node's question (the signature's instructions) and its deadline: after ``timeout``
    seconds unanswered, ``default`` (a dict of the output fields) is the answer. Never reused
    from another run: an answer belongs to the run whose item asked."""

    signature: Any
    timeout: float | None = None
    default: Mapping[str, Any] | None = None
    reusable: bool = False

    @property
    def question(self) -> str:
        return self.signature.instructions


@dataclass(frozen=True)
class LoopParams:
    """A LOOP node's body (a Plan whose INPUT takes the loop's inputs and ``trajectory``, and whose
    OUTPUT is one iteration's entry), its tools (``plait.ir.tools.Tool``; the body then
    proposes ``next_tool_name``/``next_tool_args`` and the loop makes the call), and its limits.
    ``on_max_iters``: 'error' (the node fails) or 'return' (the node ends, ``finished`` False)."""

    body: Plan
    tools: tuple[Any, ...] = ()
    max_iters: int = 10
    on_max_iters: str = "error"
    reusable: bool = True


@dataclass(frozen=True)
class Node:
    id: str
    op: Op
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Field, ...] = ()
    params: PredictParams | StepParams | HumanParams | LoopParams | None = None
    source: SourceLoc | None = None
    fingerprint: str | None = None  # set by the fingerprint pass

    def output(self, name: str) -> Field | None:
        return next((f for f in self.outputs if f.name == name), None)

    def port(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def with_(self, **changes: Any) -> Node:
        return replace(self, **changes)


class Plan:
    """An immutable DAG of nodes. Passes take a Plan and return a new one."""

    def __init__(self, name: str, nodes: Iterable[Node], meta: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.meta = dict(meta or {})
        self._nodes = {n.id: n for n in nodes}
        self._graph = nx.DiGraph()
        self._graph.add_nodes_from(self._nodes)
        for n in self._nodes.values():
            for p in n.inputs:
                if p.ref is not None and p.ref.node in self._nodes:
                    self._graph.add_edge(p.ref.node, n.id)
        self._order: list[str] | None = None

    # --- reading -----------------------------------------------------------------------------
    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: str) -> bool:
        return node_id in self._nodes

    @property
    def nodes(self) -> list[Node]:
        """Nodes in a deterministic topological order (ties broken by insertion order)."""
        if self._order is None:
            rank = {nid: i for i, nid in enumerate(self._nodes)}
            self._order = list(nx.lexicographical_topological_sort(self._graph, key=rank.__getitem__))
        return [self._nodes[i] for i in self._order]

    def node(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def get(self, node_id: str) -> Node | None:
        return self._nodes.get(node_id)

    def of_op(self, op: Op) -> list[Node]:
        return [n for n in self.nodes if n.op is op]

    def predecessors(self, node_id: str) -> list[str]:
        return sorted(self._graph.predecessors(node_id))

    def successors(self, node_id: str) -> list[str]:
        return sorted(self._graph.successors(node_id))

    def ancestors(self, node_id: str) -> set[str]:
        return set(nx.ancestors(self._graph, node_id))

    def descendants(self, node_id: str) -> set[str]:
        return set(nx.descendants(self._graph, node_id))

    def layers(self) -> list[list[str]]:
        """Node ids by topological generation (producers above consumers), for drawing the plan."""
        rank = {nid: i for i, nid in enumerate(n.id for n in self.nodes)}
        return [sorted(layer, key=rank.__getitem__) for layer in nx.topological_generations(self._graph)]

    def is_acyclic(self) -> bool:
        return nx.is_directed_acyclic_graph(self._graph)

    def cycle(self) -> list[str]:
        return [u for u, _ in nx.find_cycle(self._graph)]

    # --- making new plans --------------------------------------------------------------------
    def replace_nodes(self, nodes: Iterable[Node]) -> Plan:
        updated = dict(self._nodes)
        for n in nodes:
            updated[n.id] = n
        return Plan(self.name, updated.values(), self.meta)

    def without(self, node_ids: Iterable[str]) -> Plan:
        drop = set(node_ids)
        return Plan(self.name, (n for n in self._nodes.values() if n.id not in drop), self.meta)

    def with_meta(self, **meta: Any) -> Plan:
        return Plan(self.name, self._nodes.values(), {**self.meta, **meta})

    def __repr__(self) -> str:
        from plait.ir.printer import format_plan

        return format_plan(self)

"""Plan: an immutable DAG of IR nodes. networkx is its implementation detail and never leaves it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx

from plait.ir.nodes import Node, Op
from plait.ir.printer import format_plan


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
        return format_plan(self)

"""Per node counts of a run, from its event stream: what ``run.node_table()`` and the run's
graph show. (RunStats holds the run's totals; this holds them node by node, under the same names.)"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from plait.runtime import events as ev


@dataclass
class NodeCounts:
    """One node's executions in a run, over all its items. ``lm_calls`` counts requests sent to an
    LM, answered or not (retries and re-asks included), and the tokens are every reply's, as
    RunStats counts them for the run; ``seconds`` the time spent computing (not replaying)."""

    lm_calls: int = 0
    steps: int = 0
    cache_hits: int = 0
    replayed: int = 0
    failed_nodes: int = 0  # NodeFailed events of this node, as RunStats.failed_nodes counts them for the run
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_SOURCE_FIELD = {"step": "steps", "cache": "cache_hits", "replay": "replayed"}


class NodeTally:
    """Consumes a run's events: per node counts, and per (item, node) the last status seen, in the
    journal's words ('running', 'retrying', 'ok', 'failed', 'waiting'). A done item's cells are
    dropped: the displays read a done item's missing cells as done (display/status.py), so that a
    run of any size keeps cells only for its open items and those that did not finish done."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeCounts] = {}
        self.cells: dict[tuple[str, str], str] = {}

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.ItemFinished) and event.status == "done":  # each of its nodes finished ok
            for node_id in self.nodes:
                self.cells.pop((event.item_id, node_id), None)
        elif isinstance(event, ev.NodeFinished):
            self._finished(event)
        elif isinstance(event, ev.LMCalled):
            counts = self._node(event.node_id)
            counts.lm_calls += 1
            counts.prompt_tokens += event.prompt_tokens
            counts.completion_tokens += event.completion_tokens
        elif isinstance(event, ev.NodeFailed):
            self._node(event.node_id).failed_nodes += 1
            self.cells[(event.item_id, event.node_id)] = "failed"
        elif isinstance(event, ev.NodeRetried):
            self._node(event.node_id).retries += 1
            self.cells[(event.item_id, event.node_id)] = "retrying"
        elif isinstance(event, ev.NodeStarted):
            self.cells[(event.item_id, event.node_id)] = "running"
        elif isinstance(event, ev.ItemWaiting):  # the node asked a person and waits for the answer
            self.cells[(event.item_id, event.node_id)] = "waiting"

    def _finished(self, event: ev.NodeFinished) -> None:
        counts = self._node(event.node_id)
        name = _SOURCE_FIELD.get(event.source)
        if name is not None:
            setattr(counts, name, getattr(counts, name) + 1)
        counts.seconds += event.seconds
        self.cells[(event.item_id, event.node_id)] = "ok"

    def _node(self, node_id: str) -> NodeCounts:
        counts = self.nodes.get(node_id)  # not setdefault, which would make a NodeCounts per event
        if counts is None:
            counts = self.nodes[node_id] = NodeCounts()
        return counts

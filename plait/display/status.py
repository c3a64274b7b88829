"""What a run's graph is coloured by: per node, how many items it is done, failed, waiting,
running or not reached for.

The facts come as ``records``, {(item id, node id): status}: the journal's row statuses ('ok',
'failed', 'retrying', ...) or the same words collected from a run's events. A node with no record
for an item is read from the item: every node of a done item is done; the first unrecorded nodes
of an unfinished item (all their producers done) take the item's own status ('running', 'waiting',
'interrupted', ...); the rest were not reached. Statuses this module has never heard of (a new
op's) pass through unchanged and get a colour of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from plait.ir.plan import Plan

DONE, FAILED, NOT_REACHED = "done", "failed", "not reached"
_READ_AS = {"ok": DONE, "retrying": "running"}  # journal words -> what a reader calls them
_IN_PROGRESS = {"running", "retrying"}  # true only while the item still runs; after, the item's status says
# The colour a node takes is that of the most urgent status among its items; unknown ones rank
# just before 'done', so that something new is never hidden behind green.
_URGENCY = ("failed", "waiting", "running", "interrupted", "stopped", "done", "not reached")
COLOURS = {"done": "#a5d6a7", "failed": "#ef9a9a", "waiting": "#ffe082", "running": "#90caf9",
           "interrupted": "#ffcc80", "stopped": "#ffcc80", "not reached": "#eeeeee"}
UNKNOWN_COLOUR = "#ce93d8"


def colour_of(status: str) -> str:
    return COLOURS.get(status, UNKNOWN_COLOUR)


@dataclass(frozen=True)
class NodeStatus:
    """How many of a run's items a node is in each status for."""

    counts: Mapping[str, int]

    @property
    def status(self) -> str:
        """The most urgent status any item has at this node."""
        present = [s for s, n in self.counts.items() if n]
        if not present:
            return NOT_REACHED
        return min(present, key=_urgency)

    def summary(self) -> str:
        return ", ".join(f"{self.counts[s]} {s}" for s in by_urgency(self.counts) if self.counts[s])


def by_urgency(statuses: Iterable[str]) -> list[str]:
    """Most urgent first (failed before done); ties, such as two unknown statuses, alphabetically."""
    return sorted(statuses, key=lambda s: (_urgency(s), s))


def _urgency(status: str) -> float:
    return _URGENCY.index(status) if status in _URGENCY else _URGENCY.index(DONE) - 0.5


def node_statuses(plan: Plan, records: Mapping[tuple[str, str], str],
                  items: Iterable[tuple[str, str]]) -> dict[str, NodeStatus]:
    """Per node of ``plan``, its status counts over ``items`` ((item id, item status) pairs)."""
    counts: dict[str, Counter] = {n.id: Counter() for n in plan.nodes}
    for item_id, item_status in items:
        for node_id, status in item_cells(plan, records, item_id, item_status).items():
            counts[node_id][status] += 1
    return {node_id: NodeStatus(dict(c)) for node_id, c in counts.items()}


def item_cells(plan: Plan, records: Mapping[tuple[str, str], str], item_id: str, item_status: str) -> dict[str, str]:
    """One item's status at every node, producers first."""
    started = any((item_id, n.id) in records for n in plan.nodes)
    cells: dict[str, str] = {}
    for node in plan.nodes:
        recorded = records.get((item_id, node.id))
        preds = plan.predecessors(node.id)
        if recorded is not None and not (recorded in _IN_PROGRESS and item_status != "running"):
            cells[node.id] = _READ_AS.get(recorded, recorded)
        elif item_status == DONE:
            cells[node.id] = DONE
        elif not preds:  # the item's own fields: there unless they failed validation (no node ran)
            cells[node.id] = FAILED if item_status == FAILED and not started else DONE
        elif all(cells[p] == DONE for p in preds):
            cells[node.id] = item_status if item_status != FAILED else NOT_REACHED  # where the item stands
        else:
            cells[node.id] = NOT_REACHED
    return cells


def journal_records(journal: Mapping[tuple[str, str, int], object]) -> dict[tuple[str, str], str]:
    """{(item, node): status} from a store's journal; a loop's last iteration speaks for its node."""
    records: dict[tuple[str, str], str] = {}
    for (item_id, node_id, _iteration), row in sorted(journal.items(), key=lambda kv: kv[0]):
        records[(item_id, node_id)] = row.status
    return records

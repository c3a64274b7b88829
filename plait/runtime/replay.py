"""Replaying finished items straight from their recorded rows, without the scheduler.

A resumed run whose items are finished computes nothing: each node of each item replays (DESIGN.md
contract 5). The executor's scheduler would still take every node through its queue, its workers
and check-else-run-and-record (both keys computed, awaits, each item's values read in a query of
its own). Here an item whose every node the journal records as done under the node's current
replay key is replayed in one pass over the plan, in topological order:

  1. a batch of items' finished rows, joined with their values, are read in one query
     (``Store.replay_rows``): no JournalRow is built, and the run's journal need not be read first
  2. per item, per node: the inputs from the values replayed so far, the replay key over them,
     which must equal the recorded row's; the recorded value decoded into the node's types (a
     pure node is recomputed, as the executor recomputes it on every replay)
  3. only once the whole item checks out: its events, those the normal path emits (NodeFinished
     per node, ItemFinished), which displays and tallies consume; its status and outputs.

The check is the one ``StepJournal.recorded`` makes for a row with a replay key, so an item
replays here exactly what the normal path would replay. An item that does not check out in full
(unfinished, failed, waiting, a node to recompute after an edit, a forced node, a row from before
replay keys, a value that does not read back, a pure node that fails) is left untouched for the
normal path, which replays what it can and runs the rest. After each batch, and every REPLAY_SLICE
seconds, the event loop gets a turn, so that timers (progress, the user's tasks) keep running.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING, Any, Sequence

from plait.checkpoints.codec import codec_for
from plait.checkpoints.keys import replay_key
from plait.checkpoints.protocol import Source
from plait.errors import PlaitError, StoreError
from plait.ir.nodes import Node, Op
from plait.runtime import events as ev

if TYPE_CHECKING:
    from plait.runtime.executor import Executor, ItemState

Recorded = tuple[str, bytes]  # a finished row's replay key and value (Store.replay_rows)
_NONE = ("", None)  # a node without a row: no value
BATCH = 100  # items whose rows and values are read in one query: few queries, and memory bounded by a batch
REPLAY_SLICE = 0.01  # seconds a replay runs before the event loop's timers get a turn


class FinishedReplay:
    """Replays an executor's finished items from its journal (the executor's plan, rows, events)."""

    def __init__(self, executor: Executor) -> None:
        self.ex, self.steps = executor, executor.steps
        self.input_id, self.output_id = executor.input_id, executor.plan.of_op(Op.OUTPUT)[0].id
        self.nodes = [n for n in executor.plan.nodes if n.op is not Op.INPUT]  # topological order
        self.shown = [n.id for n in self.nodes if n.op is not Op.OUTPUT]  # the nodes with a NodeFinished event
        # a pure node is never journaled, so it has no codec here: it recomputes
        self.codecs = {n.id: codec_for(executor.value_fields[n.id]) for n in self.nodes
                       if not getattr(n.params, "pure", False)}

    async def replay(self, items: Sequence[ItemState]) -> list[ItemState]:
        """Replay the items that are finished under the current plan; return the others, in order."""
        left, slice_start, pending = [], time.perf_counter(), iter(items)  # taken lazily: runtime/feed.py
        while chunk := list(itertools.islice(pending, BATCH)):
            wanted = [item.item_id for item in chunk if item.status == "running"] if not self.steps.force else []
            read = self.steps.store.replay_rows(self.ex.run_id, wanted) if wanted else {}
            for i, item in enumerate(chunk, 1):
                rows = self._rows(read.get(item.item_id))
                if rows is None or not await self._replay_item(item, rows):
                    left.append(item)
                if i == len(chunk) or time.perf_counter() - slice_start >= REPLAY_SLICE:  # a batch, or a slice
                    # A due timer's callback runs in the loop's next iteration, and wakes its task for the
                    # iteration after that: three turns let that task run before the replay goes on.
                    for _ in range(3):
                        await asyncio.sleep(0)
                    slice_start = time.perf_counter()
        return left

    def _rows(self, read: dict[str, Recorded] | None) -> dict[str, Recorded] | None:
        """The item's (replay key, value) by journaled node, if every one has a finished row with a
        replay key and a value that reads back. ``read`` has none for an item that is not running
        (its input did not validate), nor for any while nodes are forced to recompute (a fork's first
        run, on every attempt of a shard); a row from before replay keys is not in it (the normal
        path matches it by its content key)."""
        if not read or any(read.get(node_id, _NONE)[1] is None for node_id in self.codecs):
            return None
        return read

    async def _replay_item(self, item: ItemState, rows: dict[str, Recorded]) -> bool:
        """Check and decode every node of the item; only then emit its events and finish it."""
        env: dict[str, dict[str, Any]] = {self.input_id: item.inputs}
        seconds: dict[str, float] = {}  # the pure nodes' compute times, for their events
        for node in self.nodes:
            inputs = {p.name: p.const if p.ref is None else env[p.ref.node][p.ref.field] for p in node.inputs}
            if node.id in self.codecs:  # journaled (rows may hold a node's that is pure since an edit)
                value = self._recorded(node, rows[node.id], inputs)
            else:
                value = await self._recomputed(node, inputs, seconds)
            if value is None:
                return False
            env[node.id] = value
        for node_id in self.shown:
            source = Source.REPLAY if node_id in self.codecs else Source.STEP
            self.ex.emit(ev.NodeFinished(self.ex.run_id, item.item_id, node_id, source, seconds.get(node_id, 0.0)))
        item.status, item.outputs = "done", env[self.output_id]
        self.ex.emit(ev.ItemFinished(self.ex.run_id, item.item_id, "done"))
        return True

    async def _recomputed(self, node: Node, inputs: dict[str, Any], seconds: dict[str, float]) -> Any:
        """A pure node's value, recomputed as on every replay; None if it fails (the normal path then
        fails the item, with the error)."""
        try:
            started, value = time.perf_counter(), (await self.ex.runner.run(node, inputs)).value
        except PlaitError:
            return None
        seconds[node.id] = time.perf_counter() - started
        return value

    def _recorded(self, node: Node, row: Recorded, inputs: dict[str, Any]) -> Any:
        """The node's recorded value, if it was recorded for these inputs and reads back; else None."""
        recorded_key, data = row
        if replay_key(node.fingerprint or "", inputs) != recorded_key:
            return None
        try:
            return self.codecs[node.id].decode(data, f"the stored output of node '{node.id}'")
        except StoreError:  # the normal path fails this item alone, with the error
            return None

"""The executor: one ready queue across all items and nodes, and check-else-run-and-record.

Scheduling: a node of an item becomes ready when all its producers are done; ready nodes wait in
one priority queue ordered by (item position, topological rank), so earlier items finish first
and memory stays bounded, while independent branches and other items fill the workers. There is
no barrier between items. At most ``window`` items are open at once.

Per node (DESIGN.md contract 2-5, in the manner of DBOS's ``invoke_step``):
  1. this run's journal has the node with the same content key  -> replay it, no call
  2. the store has a value for the content key (and the node is reusable) -> reuse it, record
  3. otherwise run it (LM call or step) and record value, journal row and status atomically.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from plait.checkpoints.codec import codec_for
from plait.checkpoints.keys import content_key
from plait.checkpoints.protocol import JournalRow, Store
from plait.compiler.ir import Field, Node, Op, Plan, Port
from plait.errors import PlaitError
from plait.hashing import sha256_hex
from plait.runtime import events as ev
from plait.runtime.nodes import NodeRunner, Outcome

log = logging.getLogger("plait")


@dataclass
class ItemState:
    item_id: str
    position: int
    inputs: dict[str, Any]
    status: str = "running"  # running, done, failed
    outputs: dict[str, Any] | None = None
    error: PlaitError | Exception | None = None
    env: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)


class Executor:
    """Runs one plan's items against a store. ``force``: node ids that must recompute."""

    def __init__(self, plan: Plan, store: Store, runner: NodeRunner, *, run_id: str,
                 lm_hashes: dict[str, str], journal: dict | None = None, force: frozenset[str] = frozenset(),
                 concurrency: int = 32, emit: Callable[[ev.Event], None] = lambda e: None) -> None:
        self.plan, self.store, self.runner, self.run_id = plan, store, runner, run_id
        self.lm_hashes, self.journal, self.force = lm_hashes, journal or {}, force
        self.concurrency, self.emit = max(1, concurrency), emit
        self.window = max(2 * self.concurrency, 16)
        self.rank = {n.id: i for i, n in enumerate(plan.nodes)}
        self.input_id = plan.of_op(Op.INPUT)[0].id
        self.predecessors = {n.id: plan.predecessors(n.id) for n in plan.nodes}
        self.successors = {n.id: plan.successors(n.id) for n in plan.nodes}
        self.value_fields = {n.id: value_fields(n) for n in plan.nodes}
        self._seq = itertools.count()

    async def run(self, items: list[ItemState]) -> None:
        """Run every item to done or failed. Store errors (and bugs) abort the run and propagate."""
        if not items:
            return
        self._queue: asyncio.PriorityQueue = asyncio.PriorityQueue()
        self._pending, self._left = deque(items), len(items)
        self._finished, self._fatal = asyncio.Event(), None
        for _ in range(min(self.window, len(items))):
            self._admit()
        workers = [asyncio.create_task(self._work()) for _ in range(min(self.concurrency, self._node_slots(items)))]
        try:
            await self._finished.wait()
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if self._fatal is not None:
            raise self._fatal

    def _node_slots(self, items: list[ItemState]) -> int:
        return max(1, len(items) * max(1, len(self.plan) - 1))

    # --- scheduling ---------------------------------------------------------------------------
    def _admit(self) -> None:
        if not self._pending:
            return
        item = self._pending.popleft()
        if item.status != "running":  # failed input validation: nothing to run
            self._item_done(item)
            return
        item.waiting = {nid: len(preds) for nid, preds in self.predecessors.items()}
        self._complete(item, self.input_id, item.inputs)

    def _complete(self, item: ItemState, node_id: str, value: dict[str, Any]) -> None:
        item.env[node_id] = value
        for succ in self.successors[node_id]:
            item.waiting[succ] -= 1
            if item.waiting[succ] == 0:
                self._queue.put_nowait((item.position, self.rank[succ], next(self._seq), item, succ))

    async def _work(self) -> None:
        while True:
            *_, item, node_id = await self._queue.get()
            if item.status != "running":
                continue
            try:
                await self._execute(item, self.plan.node(node_id))
            except Exception as exc:  # a store error or a bug: stop the whole run, lose nothing
                self._fatal = exc
                self._finished.set()
                return

    def _item_done(self, item: ItemState) -> None:
        item.env, item.waiting = {}, {}
        self.emit(ev.ItemFinished(self.run_id, item.item_id, item.status))
        self._left -= 1
        if self._left == 0:
            self._finished.set()
        else:
            self._admit()

    # --- one node: check, else run and record --------------------------------------------------
    async def _execute(self, item: ItemState, node: Node) -> None:
        inputs = {p.name: self._read(item, p) for p in node.inputs}
        key = content_key(node.fingerprint or "", self.lm_hashes.get(node.id, ""), self.runner.adapters.get(node.id), inputs)
        value = self._replayed(item, node, key)
        if value is None:
            value = await self._reused_or_run(item, node, key, inputs)
            if value is None:
                return  # failed; the item is finished
        elif node.op is not Op.OUTPUT:
            self.emit(ev.NodeFinished(self.run_id, item.item_id, node.id, "replay"))
        if node.op is Op.OUTPUT:
            item.status, item.outputs = "done", value
            self._item_done(item)
        else:
            self._complete(item, node.id, value)

    def _read(self, item: ItemState, port: Port) -> Any:
        if port.ref is None:
            return port.const
        return item.env[port.ref.node][port.ref.field]

    def _replayed(self, item: ItemState, node: Node, key: str) -> dict[str, Any] | None:
        row = self.journal.get((item.item_id, node.id, 0))
        if row is None or row.status != "ok" or row.content_key != key or node.id in self.force:
            return None
        return self._decode(node, row.value_hash)

    async def _reused_or_run(self, item: ItemState, node: Node, key: str, inputs: dict) -> dict | None:
        if self._reusable(node) and (value_hash := self.store.lookup(key)) is not None:
            value = self._decode(node, value_hash)
            self._record(item, node, key, value, Outcome(value, "cache", attempts=0))
            self.emit(ev.NodeFinished(self.run_id, item.item_id, node.id, "cache"))
            return value
        started = time.perf_counter()
        if node.op is Op.PREDICT:
            self.emit(ev.NodeStarted(self.run_id, item.item_id, node.id))
        try:
            outcome = await self.runner.run(node, inputs)
        except PlaitError as exc:
            self._fail(item, node, key, exc)
            return None
        self._record(item, node, key, outcome.value, outcome)
        if node.op is not Op.OUTPUT:
            usage = outcome.usage.to_json() if outcome.usage else None
            self.emit(ev.NodeFinished(self.run_id, item.item_id, node.id, outcome.source,
                                      time.perf_counter() - started, usage))
        return outcome.value

    def _reusable(self, node: Node) -> bool:
        if node.op is Op.OUTPUT or node.id in self.force:
            return False
        return getattr(node.params, "reusable", True)

    def _decode(self, node: Node, value_hash: str) -> dict[str, Any]:
        codec = codec_for(self.value_fields[node.id])
        return codec.decode(self.store.read_value(value_hash), f"the stored output of node '{node.id}'")

    def _record(self, item: ItemState, node: Node, key: str, value: dict, outcome: Outcome) -> None:
        data = codec_for(self.value_fields[node.id]).encode(value)
        row = JournalRow(self.run_id, item.item_id, node.id, 0, key, sha256_hex(data), "ok", outcome.source,
                         lm=outcome.lm, usage=outcome.usage.to_json() if outcome.usage else None,
                         attempts=outcome.attempts)
        done = "done" if node.op is Op.OUTPUT else None
        self.store.record(row, data, cache=self._reusable(node) and outcome.source != "cache", item_status=done)

    def _fail(self, item: ItemState, node: Node, key: str, exc: PlaitError) -> None:
        raw = getattr(exc, "raw_attempts", None) or ([exc.raw] if getattr(exc, "raw", None) else None)
        data = json.dumps({"raw": raw}).encode() if raw else None
        row = JournalRow(self.run_id, item.item_id, node.id, 0, key, sha256_hex(data) if data else None,
                         "failed", "lm" if node.op is Op.PREDICT else "step", error=str(exc))
        self.store.record(row, data, cache=False, item_status="failed")
        item.status, item.error = "failed", exc
        self.emit(ev.NodeFailed(self.run_id, item.item_id, node.id, str(exc)))
        self._item_done(item)


def value_fields(node: Node) -> tuple[Field, ...]:
    """The fields of a node's recorded value; OUTPUT's value is the fields it returns."""
    if node.op is Op.OUTPUT:
        return tuple(Field(p.name, p.type) for p in node.inputs)
    return node.outputs

"""The executor: one ready queue across all items and nodes, and check-else-run-and-record.

Scheduling: a node of an item becomes ready when all its producers are done; ready nodes wait in
one priority queue ordered by (item position, topological rank), so earlier items finish first
and memory stays bounded, while independent branches and other items fill the workers. There is
no barrier between items. ``concurrency`` items are open at once, and enough workers run that
every open item can run all its parallel branches together (concurrency x the plan's width);
each LM's own ``max_concurrency`` bounds the calls in flight to it.

Per node (DESIGN.md contract 2-5, in the manner of DBOS's ``invoke_step``; the journal lookups
and writes are plait/runtime/journal.py's StepJournal, which loop iterations use too):
  1. this run's journal has the node with the same replay key -> replay it, no call
  2. the store has a value for the content key (and the node is reusable) -> reuse it, record
  3. otherwise run it (LM call or step) and record value, journal row and status atomically.

Within a run a recorded output is authoritative: the replay key holds the node's fingerprint and
input values but no LM, so a resume replays what was recorded whichever LM produced it and
whatever LM, fallbacks, retries or budget the resume is given; those decide only what runs next.
Across runs it is the content key that counts, and a PREDICT node's output is cached under the
content key of the LM that produced it: a fallback's answer never passes for the primary's
(DESIGN.md contract 8). Its failed attempts are journaled as they happen ('retrying' rows), so
that a crash does not give it a fresh set of attempts.
When the run's budget is spent, no node starts; the nodes in flight finish, recorded nodes still
replay (a finished item comes back finished), and the run stops.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from plait.checkpoints.asking import AskBook, HumanWait
from plait.checkpoints.codec import codec_for
from plait.checkpoints.keys import step_keys
from plait.checkpoints.protocol import Source, Store
from plait.checkpoints.spend import Spend
from plait.clock import REAL_CLOCK, Clock
from plait.errors import NodeError, PlaitError, StoreError
from plait.ir.nodes import Field, Node, Op, Port
from plait.ir.plan import Plan
from plait.runtime import events as ev
from plait.runtime.budget import BudgetReached
from plait.runtime.calls import NodeCall, reason
from plait.runtime.journal import Keys, StepJournal
from plait.runtime.loops import LoopRunner
from plait.runtime.nodes import NodeRunner, Outcome
from plait.runtime.policies import sampled_nodes
from plait.runtime.replay import REPLAY_SLICE, FinishedReplay

log = logging.getLogger("plait")


@dataclass
class ItemState:
    item_id: str
    position: int
    inputs: dict[str, Any]
    status: str = "running"  # running, done, failed, waiting (for a person's answer)
    outputs: dict[str, Any] | None = None
    error: PlaitError | Exception | None = None
    env: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    question: Any = None  # the first Question it waits on; it waits once no other branch can run
    active: int = 0  # its nodes queued or running


class Executor:
    """Runs one plan's items against a store. ``force``: node ids that must recompute.
    ``reset_attempts``: ignore the attempts the journal records for unfinished nodes. ``journal``: the
    run's rows; ``resumed`` without them: its rows are read for the items replay leaves (run)."""

    def __init__(self, plan: Plan, store: Store, runner: NodeRunner, *, run_id: str,
                 lm_hashes: dict[str, str], journal: dict | None = None, force: frozenset[str] = frozenset(),
                 concurrency: int = 32, emit: Callable[[ev.Event], None] = lambda e: None,
                 clock: Clock = REAL_CLOCK, reset_attempts: bool = False, owner: str | None = None,
                 resumed: bool = False) -> None:
        self.plan, self.store, self.runner, self.run_id = plan, store, runner, run_id
        self.lm_hashes, self.resumed = lm_hashes, resumed or bool(journal)
        self.concurrency, self.emit, self.clock = max(1, concurrency), emit, clock
        # owner: the lease holder, who alone records; a fake clock keeps writes on the loop (a thread's wait moves it)
        self.steps = StepJournal(store, run_id, owner=owner, rows=journal, force=force,
                                 reset_attempts=reset_attempts, parse_retries=runner.parse_retries,
                                 writer=store.writer() if clock is REAL_CLOCK else None, threads=clock is REAL_CLOCK)
        self.guards = runner.guards
        self.sampled = sampled_nodes(plan, self.guards)  # their content keys name their call site
        self._computing: dict[str, asyncio.Event] = {}  # content keys being computed, set when recorded
        self.stopped: BudgetReached | None = None  # set when the budget stopped the run
        self.window = self.concurrency
        self.width = plan_width(plan)
        self.rank = {n.id: i for i, n in enumerate(plan.nodes)}
        self.input_id = plan.of_op(Op.INPUT)[0].id
        self.predecessors = {n.id: plan.predecessors(n.id) for n in plan.nodes}
        self.successors = {n.id: plan.successors(n.id) for n in plan.nodes}
        self.value_fields = {n.id: value_fields(n) for n in plan.nodes}
        self._seq = itertools.count()
        self._slice_start, self._slice_over = time.perf_counter(), False  # see _yield_now_and_then
        self.asks = AskBook(store, run_id, owner)
        self.loops = LoopRunner(self)

    async def run(self, items: Sequence[ItemState]) -> None:
        """Run every item to done or failed. Store errors (and bugs) abort the run and propagate.
        ``items`` is iterated lazily, one item as another is released (runtime/feed.py)."""
        if self.resumed:  # its finished items replay in one pass (replay.py); the others' rows are read now
            items = await FinishedReplay(self).replay(items)
            self.steps.read_rows([item.item_id for item in items])  # unless given: a fork's, a shard's
        if not items:
            return
        self._queue: asyncio.PriorityQueue = asyncio.PriorityQueue()
        self._pending, self._left = iter(items), len(items)
        self._finished, self._fatal = asyncio.Event(), None
        for _ in range(min(self.window, len(items))):
            self._admit()
        slots = min(self.window * self.width, max(1, len(items) * max(1, len(self.plan) - 1)))
        workers = [asyncio.create_task(self._work()) for _ in range(slots)]
        try:
            await self._finished.wait()
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if self._fatal is not None:
            raise self._fatal

    # --- scheduling ---------------------------------------------------------------------------
    def _admit(self) -> None:
        item = next(self._pending, None)
        if item is None:
            return
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
                item.active += 1
                self._queue.put_nowait((item.position, self.rank[succ], next(self._seq), item, succ))

    async def _work(self) -> None:
        while True:
            *_, item, node_id = await self._queue.get()
            if item.status != "running":
                item.active -= 1
                continue
            try:
                await self._execute(item, self.plan.node(node_id))
            except BudgetReached as stop:  # the item stays unfinished; resume goes on from here
                self._stop(stop)
            except Exception as exc:  # a store error or a bug: stop the whole run, lose nothing
                self._fatal = exc
                self._finished.set()
                return
            finally:
                item.active -= 1
            self._close_if_waiting(item)
            self._park_if_stopped(item)

    def _stop(self, stop: BudgetReached) -> None:
        if self.stopped is None:
            self.stopped = stop
            self.emit(ev.BudgetExhausted(self.run_id, stop.limit, stop.used, stop.maximum))

    def _park_if_stopped(self, item: ItemState) -> None:
        """After a stop, an item with nothing left to replay stays unfinished: resume goes on with it."""
        if self.stopped is not None and item.status == "running" and item.active == 0:
            self._release(item)

    def _item_done(self, item: ItemState) -> None:
        self.emit(ev.ItemFinished(self.run_id, item.item_id, item.status))
        self._release(item)

    def _release(self, item: ItemState) -> None:
        item.env, item.waiting = {}, {}
        self._left -= 1
        if self._left == 0:
            self._finished.set()
        else:
            self._admit()

    # --- one node: check, else run and record (journal.py) -------------------------------------
    async def _execute(self, item: ItemState, node: Node) -> None:
        inputs = {p.name: self._read(item, p) for p in node.inputs}
        if getattr(node.params, "pure", False):
            await self._recompute(item, node, inputs)
            return
        keys = self._keys(node, self.lm_hashes.get(node.id, ""), inputs)
        try:
            value = self._replayed(item, node, keys, inputs)
        except StoreError as exc:  # a recorded value that does not read back: this item fails, alone
            await self._fail(item, node, keys, exc)
            return
        if value is None:
            if self.stopped is not None:  # the budget is spent: nothing new starts
                return
            value = await self._reused_or_run(item, node, keys, inputs)
            if value is None:
                return  # failed; the item is finished
        else:
            await self._yield_now_and_then()
            if node.op is not Op.OUTPUT:
                self.emit(ev.NodeFinished(self.run_id, item.item_id, node.id, Source.REPLAY))
        if item.status != "running":  # a parallel branch failed the item while this node ran or committed
            return
        if node.op is Op.OUTPUT:
            item.status, item.outputs = "done", value
            self._item_done(item)
        else:
            self._complete(item, node.id, value)

    async def _recompute(self, item: ItemState, node: Node, inputs: dict[str, Any]) -> None:
        """A pure node runs every time it is needed, replay included, and only its failure is
        journaled (the item fails there, with the error, as at any node)."""
        started = time.perf_counter()
        try:
            outcome = await self.runner.run(node, inputs)
        except PlaitError as exc:
            keys = self._keys(node, "", inputs)
            await self._fail(item, node, keys, exc)
            return
        self.emit(ev.NodeFinished(self.run_id, item.item_id, node.id, Source.STEP, time.perf_counter() - started))
        if item.status == "running":  # else a parallel branch failed the item meanwhile
            self._complete(item, node.id, outcome.value)

    async def _yield_now_and_then(self) -> None:
        """A replayed node awaits nothing, so a long replay would hold the loop from its timers (lease
        heartbeats, progress, the user's tasks). Once a slice of REPLAY_SLICE seconds is over, every
        worker yields at its next replayed node, so that the loop's iteration ends and a new slice
        starts after the timers that came due."""
        if not self._slice_over and time.perf_counter() - self._slice_start < REPLAY_SLICE:
            return
        if not self._slice_over:
            self._slice_over = True
            asyncio.get_running_loop().call_soon(self._new_slice)
        await asyncio.sleep(0)

    def _new_slice(self) -> None:
        self._slice_over, self._slice_start = False, time.perf_counter()

    def _read(self, item: ItemState, port: Port) -> Any:
        if port.ref is None:
            return port.const
        return item.env[port.ref.node][port.ref.field]

    def _keys(self, node: Node, lm_hash: str, inputs: dict[str, Any]) -> Keys:
        site = node.id if node.id in self.sampled else None
        return Keys(*step_keys(node.fingerprint or "", lm_hash, self.runner.adapters.get(node.id), inputs, site))

    def _replayed(self, item: ItemState, node: Node, keys: Keys, inputs: dict) -> dict[str, Any] | None:
        """The recorded output, if this run's journal holds one for these inputs: whichever LM made it."""
        row = self.steps.recorded(item.item_id, node, 0, keys,
                                  made_by=lambda recorded: self._by_fallback(node, inputs, recorded))
        return self._decode(node, row.value_hash) if row is not None else None

    def _by_fallback(self, node: Node, inputs: dict[str, Any], recorded: str) -> bool:
        """Was the recorded output produced by one of the node's fallback LMs?"""
        guard = self.guards.get(node.id)
        return guard is not None and any(self._keys(node, r.lm_hash, inputs).content == recorded for r in guard.routes[1:])

    async def _reused_or_run(self, item: ItemState, node: Node, keys: Keys, inputs: dict) -> dict | None:
        """A reusable node whose content key another item is computing right now waits for it, then
        finds its answer in the cache: the same question asked at once costs one call, as in turn."""
        if not self.steps.reusable(node):
            return await self._cached_or_run(item, node, keys, inputs)
        while (computing := self._computing.get(keys.content)) is not None:
            await computing.wait()
        done = self._computing[keys.content] = asyncio.Event()
        try:
            return await self._cached_or_run(item, node, keys, inputs)
        finally:
            del self._computing[keys.content]
            done.set()

    async def _cached_or_run(self, item: ItemState, node: Node, keys: Keys, inputs: dict) -> dict | None:
        await self.steps.look_up(node, keys.content)  # off the loop: the store's lock may be the writer's
        if (cached := self._cached(node, keys.content)) is not None:
            value, value_hash = cached
            self.steps.record_ok(item.item_id, node, 0, keys, None, source=Source.CACHE, value_hash=value_hash)
            await self.steps.committed()
            self.emit(ev.NodeFinished(self.run_id, item.item_id, node.id, Source.CACHE))
            return value
        if (failure := self.steps.cached_failure(node, keys.content)) is not None:  # it never parsed: don't ask again
            await self._fail(item, node, keys, failure)
            return None
        started, call = time.perf_counter(), None
        if node.op is Op.PREDICT:
            call = self.steps.call(item.item_id, node, keys.content, self._retrying)
            self.emit(ev.NodeStarted(self.run_id, item.item_id, node.id))
        try:
            with self.asks.scope(item.item_id, node.id, inputs) as asking:
                if node.op is Op.LOOP:
                    outcome = await self.loops.run(item, node, inputs)
                else:
                    outcome = await self._run(node, inputs, call)
        except PlaitError as exc:
            await self._fail(item, node, keys, exc, call)
            return None
        except BudgetReached as stop:  # a reply that did not parse, then no budget for its re-ask: still spent
            if call is not None and call.unrecorded_spend.requests:
                self.steps.record_attempt(call, stop)
            raise
        except HumanWait as wait:
            self._wait(item, node, wait.question)
            return None
        self._record(item, node, keys, outcome, call, asked=asking.asked > 0, inputs=inputs)
        await self.steps.committed()  # successors and events only once it is recorded
        if node.op is not Op.OUTPUT:
            usage = outcome.usage.to_json() if outcome.usage else None
            self.emit(ev.NodeFinished(self.run_id, item.item_id, node.id, outcome.source,
                                      time.perf_counter() - started, usage))
        return outcome.value

    def _cached(self, node: Node, key: str) -> tuple[dict[str, Any], str] | None:
        """The stored value for the content key, and its hash; a value that does not read back (NaN
        stored as null by an older plait) is a miss, recomputed, so that it cannot fail other runs."""
        if (value_hash := self.steps.cached(node, key)) is None:
            return None
        try:
            return self._decode(node, value_hash), value_hash
        except StoreError as exc:
            log.warning("plait: recomputing node '%s': its cached value does not read back: %s", node.id, exc.summary)
            return None

    async def _run(self, node: Node, inputs: dict[str, Any], call: NodeCall | None) -> Outcome:
        guard = self.guards.get(node.id)
        if guard is None or guard.node_timeout is None:
            return await self.runner.run(node, inputs, call)
        try:
            return await self.clock.wait_for(self.runner.run(node, inputs, call), guard.node_timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise NodeError(
                f"node '{node.id}' did not finish within its node_timeout of {guard.node_timeout:g} s",
                node=node.id, source=node.source, expected=f"an output within {guard.node_timeout:g} s, "
                "retries and re-asks included", found=f"{call.made if call else 0} attempts in that time",
                fix="raise node_timeout= for this node, or lower its RetryPolicy's waits; then resume the run"
            ) from None

    def _retrying(self, call: NodeCall, exc: BaseException, delay: float) -> None:
        self.steps.record_attempt(call, exc)
        self.emit(ev.NodeRetried(self.run_id, call.item_id, call.node.id, call.attempts, reason(exc), delay))

    def _decode(self, node: Node, value_hash: str) -> dict[str, Any]:
        codec = codec_for(self.value_fields[node.id])
        return codec.decode(self.steps.read(value_hash), f"the stored output of node '{node.id}'")

    def _record(self, item: ItemState, node: Node, keys: Keys, outcome: Outcome, call: NodeCall | None, *,
                asked: bool, inputs: dict[str, Any]) -> None:
        """A fallback's answer is cached under the fallback's content key, never the primary's; a
        value a person's answer shaped is this run's own, never cached."""
        if outcome.fallback_hash is not None:
            keys = replace(keys, content=self._keys(node, outcome.fallback_hash, inputs).content)
        data = outcome.data if outcome.data is not None else codec_for(self.value_fields[node.id]).encode(outcome.value)
        self.steps.record_ok(item.item_id, node, 0, keys, data, source=outcome.source, lm=outcome.lm,
                             usage=outcome.usage, attempts=call.unrecorded if call is not None else outcome.attempts,
                             spent=call.unrecorded_spend if call is not None else Spend(),
                             cacheable=outcome.cacheable and not asked)

    async def _fail(self, item: ItemState, node: Node, keys: Keys, exc: PlaitError, call: NodeCall | None = None) -> None:
        self.steps.record_failed(item.item_id, node, keys, exc, call.unrecorded if call is not None else 1,
                                 call.unrecorded_spend if call is not None else Spend())
        await self.steps.committed()
        open_before = item.status == "running"  # a parallel branch may have failed or waited already
        item.status, item.error = "failed", exc
        self.emit(ev.NodeFailed(self.run_id, item.item_id, node.id, str(exc)))
        if open_before:
            self._item_done(item)

    def _wait(self, item: ItemState, node: Node, question: Any) -> None:
        """A node reached an unanswered question (already in the store). The item's other branches
        go on, so that every question they reach is asked now; then the item waits."""
        self.emit(ev.ItemWaiting(self.run_id, item.item_id, node.id, question.ask, question.question))
        item.question = item.question or question

    def _close_if_waiting(self, item: ItemState) -> None:
        if item.status == "running" and item.question is not None and item.active == 0:
            item.status = "waiting"
            self._item_done(item)


def value_fields(node: Node) -> tuple[Field, ...]:
    """The fields of a node's recorded value; OUTPUT's value is the fields it returns."""
    if node.op is Op.OUTPUT:
        return tuple(Field(p.name, p.type) for p in node.inputs)
    return node.outputs


def plan_width(plan: Plan) -> int:
    """How many nodes of one item can run at once: the most nodes on one longest-path level."""
    level: dict[str, int] = {}
    for node in plan.nodes:  # topological order: producers first
        level[node.id] = 1 + max((level[p] for p in plan.predecessors(node.id)), default=0)
    inner = [level[n.id] for n in plan.nodes if n.op not in (Op.INPUT, Op.OUTPUT)]
    return max((inner.count(v) for v in set(inner)), default=1)

"""Running a DSPy program journaled: ``forward`` as written, per item, every call recorded.

:class:`DurableExecutor` is an ``executor=`` for plait's ordinary run machinery (plait/api/runs.py:
run records, items, the lease, events, status, resume): bound to a run, it runs each item's
``forward`` in a worker thread (at most ``concurrency`` at once) with its predictors and tools
intercepted (durable_calls.py). Each call, on the event loop, goes through the one
check-else-run-and-record primitive (journal.py's StepJournal), as a node does:
  1. this run's journal has a call at this (item, ordinal) -> it must be the same call
     (durable_replay.py), and its recorded output returns, no LM call
  2. the cache has the predictor's content key (same prompt state, LM and inputs) -> reused, recorded
  3. otherwise plait's NodeRunner formats the prompt, calls the LM through the LMCaller (retries,
     rate limits, fallbacks, budget, credentials scrubbed), parses, and the output is recorded.
The item's outputs are recorded last, with its status, under the plan's OUTPUT node.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import time
from dataclasses import replace
from typing import Any

import dspy
from pydantic_core import to_jsonable_python

from plait.checkpoints.codec import codec_for, json_utf8
from plait.checkpoints.keys import content_key, replay_key
from plait.checkpoints.protocol import Source, Status
from plait.errors import PlaitError
from plait.ir.nodes import Node, Op
from plait.runtime import events as ev
from plait.runtime.assemble import local_executor
from plait.runtime.budget import BudgetReached
from plait.runtime.calls import NodeCall, reason
from plait.runtime.durable_calls import ItemCalls, install
from plait.runtime.durable_plan import INPUT_ID, OUTPUT_ID
from plait.runtime.durable_replay import check_same_call, recorded_calls
from plait.runtime.executor import ItemState
from plait.runtime.journal import Keys
from plait.runtime.options import RunJob

NO_KEYS = Keys("", "")  # an item's outputs are its own: never looked up by key


class DurableExecutor:
    """``executor=`` for runs of a journaled DSPy ``program`` (``plait.durable(program).run``)."""

    def __init__(self, program: dspy.Module) -> None:
        self.program = program

    def bind(self, job: RunJob) -> DurableJob:
        return DurableJob(self.program, job)


class DurableJob:
    """One run of the program: ``await run(states)``, then ``stopped`` (as the Executor)."""

    def __init__(self, program: dspy.Module, job: RunJob) -> None:
        base = local_executor(job.plan, job.store, job.run_id, job.own_lms, job.options, job.journal,
                              job.force, job.emit, job.owner)
        self.program, self.job, self.run_id, self.emit = program, job, job.run_id, job.emit
        self.runner, self.steps, self.lm_hashes = base.runner, base.steps, base.lm_hashes
        self.sampled = base.sampled  # their content keys name the call site: path and ordinal
        self.nodes = {n.id: n for n in job.plan.of_op(Op.PREDICT)}
        self.output = job.plan.node(OUTPUT_ID)
        self.calls = recorded_calls(self.steps.rows, {k[1] for k in self.steps.rows} - {INPUT_ID, OUTPUT_ID})
        self.stopped: BudgetReached | None = None
        self.pending: set[concurrent.futures.Future] = set()
        self.replay_only: set[str] = set()  # finished items, whose forward may make no new call

    async def run(self, states: list[ItemState]) -> None:
        if not states:
            return
        loop, width = asyncio.get_running_loop(), max(1, min(self.job.options.concurrency, len(states)))
        pool, gate = concurrent.futures.ThreadPoolExecutor(width, thread_name_prefix="plait-durable"), asyncio.Semaphore(width)
        try:
            await asyncio.gather(*(self._item(s, loop, pool, gate) for s in states))
        finally:
            for future in list(self.pending):  # an aborted run: no item thread waits on the loop forever
                future.cancel()
            pool.shutdown(wait=False)  # never block the loop the threads may still be waiting on

    # --- one item ---------------------------------------------------------------------------------
    async def _item(self, state: ItemState, loop: asyncio.AbstractEventLoop,
                    pool: concurrent.futures.Executor, gate: asyncio.Semaphore) -> None:
        if state.status != "running":  # its input did not validate
            self.emit(ev.ItemFinished(self.run_id, state.item_id, state.status))
            return
        async with gate:
            row = self.steps.rows.get((state.item_id, OUTPUT_ID, 0))
            if row is not None and row.status == Status.OK:
                await self._replay_finished(state, row.value_hash, loop, pool)
            elif self.stopped is None:  # else the budget is spent: the item stays unfinished
                await self._run(state, loop, pool)

    async def _run(self, state: ItemState, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.Executor) -> None:
        try:
            result = await self._forward(state, loop, pool)
        except BudgetReached as stop:
            self._stop(stop)
        except PlaitError as exc:
            await self._fail(state, exc)
        except Exception as exc:  # the user's forward raised: this item fails, alone
            await self._fail(state, forward_failed(self.output, state.item_id, exc))
        else:
            await self._finish(state, result)

    async def _replay_finished(self, state: ItemState, value_hash: str, loop: asyncio.AbstractEventLoop,
                               pool: concurrent.futures.Executor) -> None:
        """A finished item stays finished. Its forward runs again with every call replayed (and no
        other call allowed), so that its outputs come back as the types forward returned; should
        that not give the recorded outputs, they come back as recorded, as JSON values."""
        recorded = json.loads(self.steps.read(value_hash))
        self.replay_only.add(state.item_id)
        try:
            outputs = output_fields(await self._forward(state, loop, pool))
        except Exception:  # noqa: BLE001 - any failure of the replay falls back to the record
            outputs = recorded
        if json.loads(json_utf8(to_jsonable_python(outputs, fallback=repr))) != recorded:
            outputs = recorded
        state.status, state.outputs = "done", outputs
        self.emit(ev.ItemFinished(self.run_id, state.item_id, "done"))

    async def _forward(self, state: ItemState, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.Executor) -> Any:
        """The item's forward, on its own copy of the program, in a worker thread."""
        program = self.program.deepcopy()
        install(program, ItemCalls(self, state.item_id, loop, self.pending), self.nodes, self.job.plan.name)
        return await loop.run_in_executor(pool, functools.partial(program, **state.inputs))

    # Each record is queued for the store's writer thread and awaited (committed()) at once, before
    # any other await: what follows (the item's status, events, the call's value) waits for its commit.
    async def _finish(self, state: ItemState, result: Any) -> None:
        outputs = output_fields(result)
        data = json_utf8(to_jsonable_python(outputs, fallback=repr))
        self.steps.record_ok(state.item_id, self.output, 0, NO_KEYS, data, source=Source.OUTPUT)
        await self.steps.committed()
        state.status, state.outputs = "done", outputs
        self.emit(ev.ItemFinished(self.run_id, state.item_id, "done"))

    async def _fail(self, state: ItemState, exc: PlaitError) -> None:
        self.steps.record_failed(state.item_id, self.output, NO_KEYS, exc, 0)
        await self.steps.committed()
        state.status, state.error = "failed", exc
        self.emit(ev.NodeFailed(self.run_id, state.item_id, exc.node or OUTPUT_ID, str(exc)))
        self.emit(ev.ItemFinished(self.run_id, state.item_id, "failed"))

    def _stop(self, stop: BudgetReached) -> None:
        if self.stopped is None:
            self.stopped = stop
            self.emit(ev.BudgetExhausted(self.run_id, stop.limit, stop.used, stop.maximum))

    # --- one predictor call, on the loop ----------------------------------------------------------
    async def predict(self, item_id: str, node: Node, ordinal: int, inputs: dict[str, Any]) -> dict[str, Any]:
        adapter = self.runner.adapters.get(node.id)
        keys = Keys(self._content_key(node, ordinal, self.lm_hashes[node.id], adapter, inputs),
                    replay_key(node.fingerprint or "", inputs))
        if (row := self.calls.get(item_id, {}).get(ordinal)) is not None:
            check_same_call(row, item_id, node.id, ordinal, keys.replay, inputs, node.source)
            self.emit(ev.NodeFinished(self.run_id, item_id, node.id, Source.REPLAY))
            return self._decode(node, row.value_hash)
        if item_id in self.replay_only:
            raise NotRecorded(node.id, ordinal)
        if self.stopped is not None:
            raise self.stopped  # no new LM call after the budget is spent
        if (value_hash := self.steps.cached(node, keys.content)) is not None:
            self.steps.record_ok(item_id, node, ordinal, keys, None, source=Source.CACHE, value_hash=value_hash)
            await self.steps.committed()
            self.emit(ev.NodeFinished(self.run_id, item_id, node.id, Source.CACHE))
            return self._decode(node, value_hash)
        return await self._call(item_id, node, ordinal, keys, inputs, adapter)

    def _content_key(self, node: Node, ordinal: int, lm_hash: str, adapter: str | None, inputs: dict) -> str:
        site = f"{node.id}#{ordinal}" if node.id in self.sampled else None
        return content_key(node.fingerprint or "", lm_hash, adapter, inputs, site)

    async def _call(self, item_id: str, node: Node, ordinal: int, keys: Keys, inputs: dict[str, Any],
                    adapter: str | None) -> dict[str, Any]:
        call = self.steps.call(item_id, node, keys.content, self._retrying, iteration=ordinal)  # its row: the ordinal's
        started = time.perf_counter()
        self.emit(ev.NodeStarted(self.run_id, item_id, node.id))
        try:
            outcome = await self.runner.run(node, inputs, call)
        except BudgetReached as stop:
            self._stop(stop)
            raise
        except PlaitError as exc:
            self.steps.record_failed_iteration(item_id, node, ordinal, exc, source=Source.LM, lm=None,
                                               attempts=call.unrecorded, spent=call.unrecorded_spend)
            await self.steps.committed()
            self.emit(ev.NodeFailed(self.run_id, item_id, node.id, str(exc)))
            raise
        if outcome.fallback_hash is not None:  # a fallback's answer is cached under its own key
            keys = replace(keys, content=self._content_key(node, ordinal, outcome.fallback_hash, adapter, inputs))
        data = outcome.data if outcome.data is not None else codec_for(node.outputs).encode(outcome.value)
        self.steps.record_ok(item_id, node, ordinal, keys, data, source=outcome.source, lm=outcome.lm,
                             usage=outcome.usage, attempts=call.unrecorded, spent=call.unrecorded_spend,
                             cacheable=outcome.cacheable)
        await self.steps.committed()
        usage = outcome.usage.to_json() if outcome.usage else None
        self.emit(ev.NodeFinished(self.run_id, item_id, node.id, outcome.source, time.perf_counter() - started, usage))
        return outcome.value

    def _retrying(self, call: NodeCall, exc: BaseException, delay: float) -> None:
        self.steps.record_attempt(call, exc)
        self.emit(ev.NodeRetried(self.run_id, call.item_id, call.node.id, call.attempts, reason(exc), delay))

    def _decode(self, node: Node, value_hash: str) -> dict[str, Any]:
        return codec_for(node.outputs).decode(self.steps.read(value_hash), f"the recorded output of '{node.id}'")

    # --- one tool call ----------------------------------------------------------------------------
    async def recorded_tool(self, item_id: str, node: Node, ordinal: int, args: dict[str, Any]) -> tuple[Any] | None:
        """(the recorded result,) of this tool call, or None: it has not run yet."""
        if (row := self.calls.get(item_id, {}).get(ordinal)) is None:
            if item_id in self.replay_only:
                raise NotRecorded(node.id, ordinal)
            return None
        check_same_call(row, item_id, node.id, ordinal, replay_key("tool", args), args, node.source)
        self.emit(ev.NodeFinished(self.run_id, item_id, node.id, Source.REPLAY))
        return (json.loads(self.steps.read(row.value_hash))["result"],)

    async def record_tool(self, item_id: str, node: Node, ordinal: int, args: dict[str, Any], result: Any) -> None:
        data = json_utf8({"result": to_jsonable_python(result, fallback=repr)})
        keys = Keys(replay_key("tool", {"tool": node.id, "args": args}), replay_key("tool", args))
        self.steps.record_ok(item_id, node, ordinal, keys, data, source=Source.STEP)
        await self.steps.committed()
        self.emit(ev.NodeFinished(self.run_id, item_id, node.id, Source.STEP))


class NotRecorded(Exception):
    """A finished item's replay reached a call its journal lacks: its recorded outputs stand."""


def output_fields(result: Any) -> dict[str, Any]:
    """What ``forward`` returned, as the item's output fields."""
    if isinstance(result, dspy.Prediction):
        return dict(result.items())
    if isinstance(result, dict):
        return dict(result)
    return {"output": result}


def forward_failed(output: Node, item_id: str, exc: Exception) -> PlaitError:
    return PlaitError(f"item {item_id}: the program's forward raised {type(exc).__name__}: {exc}", node=output.id,
                      source=output.source, expected="forward to return a dspy.Prediction (or a dict)",
                      found=f"{type(exc).__name__}: {str(exc)[:300]}",
                      fix="fix forward (or the item), then resume the run: every call already recorded replays")

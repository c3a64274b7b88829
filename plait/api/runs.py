"""Running, resuming and forking runs: the entry points behind ``CompiledPipeline.run``,
``plait.resume`` and ``plait.rerun``. All are async; ``plait`` exposes sync facades too."""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from plait.api.results import ItemResult, Run, RunStats
from plait.checkpoints.codec import codec_for
from plait.checkpoints.keys import lm_identity_hash
from plait.checkpoints.lease import DEFAULT_TTL, LeaseKeeper
from plait.checkpoints.protocol import JournalRow, RunRecord, Store
from plait.checkpoints.stores import using_store
from plait.clock import REAL_CLOCK, Clock
from plait.errors import InputError, LeaseHeld, PlaitError
from plait.ir.nodes import Op
from plait.ir.plan import Plan
from plait.ir.serialize import plan_from_json, plan_to_json
from plait.lm import config
from plait.lm.dspy_lm import as_lm
from plait.pipeline.prediction import Prediction
from plait.runtime import events as ev
from plait.runtime.budget import Budget, BudgetMeter, journal_spending
from plait.runtime.calls import LMCaller
from plait.runtime.executor import Executor, ItemState
from plait.runtime.items import as_items, item_states
from plait.runtime.loops import lm_nodes, loop_lm_hashes
from plait.runtime.nodes import NodeRunner
from plait.runtime.policies import resolve_guards
from plait.runtime.progress import ProgressBar, show_progress
from plait.runtime.tally import NodeTally

log = logging.getLogger("plait")


@dataclass
class RunOptions:
    """How to run: LM choice, concurrency, progress display, event callback, parse retries, and
    how to survive the real world (see plait/runtime/policies.py for which setting wins):

    ``retry``       a RetryPolicy, or {node id or LM name: RetryPolicy}
    ``timeout``     seconds per LM call (a timeout is a transient failure), or a dict likewise
    ``node_timeout`` seconds per node, retries and re-asks included, or {node id: seconds}
    ``rate_limits`` {LM name: RateLimit};  ``breakers`` {LM name: CircuitBreaker or None}
    ``fallbacks``   {LM name: [LM or configured name, ...]}, or one list for every LM
    ``budget``      a Budget for the run's total (resume with a larger one to go on)
    ``clock``       where time comes from (a FakeClock in tests); ``seed`` seeds the jitter
    ``reset_attempts`` on resume: forget the attempts the journal counts for unfinished nodes
    """

    lm: Any = None
    lms: dict[str, Any] | None = None
    concurrency: int = 32
    progress: bool | None = None  # None: plait.configure(progress=...), else $PLAIT_PROGRESS, else when interactive
    label: str | None = None  # the progress bar's label ('plait'; evaluate and optimizers name theirs)
    on_event: Callable[[ev.Event], None] | None = None
    parse_retries: int = 2
    retry: Any = None
    timeout: Any = None
    node_timeout: Any = None
    rate_limits: Mapping[str, Any] | None = None
    breakers: Mapping[str, Any] | None = None
    fallbacks: Any = None
    budget: Budget | None = None
    clock: Clock | None = None
    seed: int | None = None
    reset_attempts: bool = False
    lease_ttl: float = DEFAULT_TTL  # a killed run's lease expires this long after its last renewal


async def arun(plan: Plan, data: Any, *, store: Any = None, ids: list[str] | None = None,
               own_lms: dict[str, Any] | None = None, options: RunOptions | None = None) -> Run:
    """Start a new run of ``plan`` over ``data`` (a list of items or one item)."""
    with using_store(store) as opened:
        return await _start(plan, data, opened, ids, own_lms, options or RunOptions())


async def _start(plan: Plan, data: Any, store: Store, ids: list[str] | None, own_lms: dict | None,
                 options: RunOptions) -> Run:
    states, encoded = item_states(plan.of_op(Op.INPUT)[0], as_items(data), ids)
    run_id = new_run_id()
    with LeaseKeeper(store, run_id, ttl=options.lease_ttl) as lease:
        plan_hash = store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True))
        record = RunRecord(run_id, plan_hash, "running", time.time(), time.time(),
                           config={"concurrency": options.concurrency, "items": len(states)})
        store.create_run(record, [(s.item_id, e) for s, e in zip(states, encoded)])
        _record_input_failures(store, run_id, plan, states)
        return await _execute(plan, store, run_id, states, own_lms, options, owner=lease.owner)


async def aresume(run_id: str, *, store: Any = None, plan: Plan | None = None,
                  own_lms: dict[str, Any] | None = None, options: RunOptions | None = None) -> Run:
    """Finish a run from its journal: recorded nodes replay, the rest run. With ``plan`` (an edited
    pipeline), nodes whose content key changed recompute and the run's plan is updated."""
    with using_store(store) as opened:
        return await _resume(run_id, opened, plan, own_lms, options or RunOptions())


async def _resume(run_id: str, store: Store, plan: Plan | None, own_lms: dict | None, options: RunOptions) -> Run:
    store.get_run(run_id)  # an unknown run is RunNotFound, before any lease
    with LeaseKeeper(store, run_id, ttl=options.lease_ttl) as lease:  # LeaseHeld if another process runs it
        return await _resume_held(run_id, store, plan, own_lms, options, lease.owner)


async def _resume_held(run_id: str, store: Store, plan: Plan | None, own_lms: dict | None, options: RunOptions,
                       owner: str) -> Run:
    record = store.get_run(run_id)  # read under the lease: the previous holder may have just finished
    stored = plan_from_json(json.loads(store.load_plan(record.plan_hash)), f"the plan of run {run_id}")
    plan = plan or stored
    plan_hash = store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True))
    if plan_hash != record.plan_hash:
        store.set_run(run_id, plan_hash=plan_hash)
    store.set_run(run_id, status="running")
    states = _stored_items(store, run_id, plan)
    journal = store.journal(run_id)
    return await _execute(plan, store, run_id, states, own_lms, options, journal=journal, resumed=True, owner=owner)


async def arerun(run_id: str, from_node: str, *, store: Any = None, plan: Plan | None = None,
                 own_lms: dict[str, Any] | None = None, options: RunOptions | None = None) -> Run:
    """Fork ``run_id``: ``from_node`` and its descendants recompute, everything upstream replays."""
    with using_store(store) as opened:
        return await _fork(run_id, from_node, opened, plan, own_lms, options or RunOptions())


async def _fork(run_id: str, from_node: str, store: Store, plan: Plan | None, own_lms: dict | None,
                options: RunOptions) -> Run:
    parent = store.get_run(run_id)
    plan = plan or plan_from_json(json.loads(store.load_plan(parent.plan_hash)), f"the plan of run {run_id}")
    if from_node not in plan:
        raise PlaitError(f"run {run_id} has no node '{from_node}'", node=from_node,
                         expected=f"one of {', '.join(n.id for n in plan.nodes)}", found=repr(from_node),
                         fix="pick a node id from `plait plan` or print(compiled)")
    force = frozenset(plan.descendants(from_node) | {from_node})
    fork_id = new_run_id()
    with LeaseKeeper(store, fork_id, ttl=options.lease_ttl) as lease:
        items = store.run_items(run_id)
        store.create_run(RunRecord(fork_id, store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True)),
                                   "running", time.time(), time.time(), run_id, parent.config),
                         [(i.item_id, store.read_value(i.input_hash)) for i in items])
        store.copy_journal(run_id, fork_id, {n.id for n in plan.nodes} - force)
        states = _stored_items(store, fork_id, plan)
        return await _execute(plan, store, fork_id, states, own_lms, options,
                              journal=store.journal(fork_id), force=force, resumed=True, owner=lease.owner)


async def _execute(plan: Plan, store: Store, run_id: str, states: list[ItemState], own_lms: dict | None,
                   options: RunOptions, journal: dict | None = None, force: frozenset = frozenset(),
                   resumed: bool = False, owner: str | None = None) -> Run:
    stats, tally = RunStats(), NodeTally()
    emit = _fanout(stats, options, len(states), tally)
    executor = _executor(plan, store, run_id, own_lms or {}, options, journal, force, emit, owner)
    started = time.perf_counter()
    emit(ev.RunStarted(run_id, len(states), len(plan), resumed))
    lost = False
    try:
        await executor.run(states)
    except LeaseHeld:
        lost = True  # another process took the run over: its status is now that process's to write
        raise
    finally:
        stats.seconds = time.perf_counter() - started
        status = _status(states, executor.stopped)
        if not lost:
            store.set_run(run_id, status=status)
        emit(ev.RunFinished(run_id, status, stats.as_dict()))
    reason = str(executor.stopped) if status == "stopped" else None
    return Run(run_id, getattr(store, "path", None), status, [_result(s) for s in states], stats, reason,
               plan=plan, tally=tally)


def _executor(plan: Plan, store: Store, run_id: str, own: dict, options: RunOptions, journal: dict | None,
              force: frozenset, emit: Callable[[ev.Event], None], owner: str | None) -> Executor:
    named = named_lms(options, own)
    lms, adapters, hashes = resolve_lms(plan, options, own, named)
    guards = resolve_guards(lm_nodes(plan), lms, hashes, options, named)
    hashes.update(loop_lm_hashes(plan, hashes, adapters))
    clock = options.clock or REAL_CLOCK
    meter = None
    if options.budget is not None:
        meter = BudgetMeter(options.budget, *journal_spending((journal or {}).values()))
    caller = LMCaller(run_id, clock=clock, rng=random.Random(options.seed), meter=meter, emit=emit)
    return Executor(plan, store, NodeRunner(guards, adapters, options.parse_retries, caller), run_id=run_id,
                    lm_hashes=hashes, journal=journal, force=force, concurrency=options.concurrency, emit=emit,
                    clock=clock, reset_attempts=options.reset_attempts, owner=owner)


def named_lms(options: RunOptions, own: dict[str, Any]) -> dict[str, Any]:
    """The LMs known by name: configured, given to the run, and given to modules as objects."""
    return {k: as_lm(v) for k, v in {**config.current().lms, **(options.lms or {}), **own}.items()}


def resolve_lms(plan: Plan, options: RunOptions, own: dict[str, Any],
                named: dict[str, Any] | None = None) -> tuple[dict, dict, dict]:
    """Per PREDICT node: its LM object, its adapter name, and its LM identity hash."""
    settings = config.current()
    named = named if named is not None else named_lms(options, own)
    default = as_lm(options.lm if options.lm is not None else settings.lm)  # a plain dspy.LM works too
    lms, adapters, hashes = {}, {}, {}
    for node in lm_nodes(plan):
        lm = named.get(node.params.lm) if node.params.lm else default
        if lm is None:
            raise _no_lm_error(node, node.params.lm)
        lms[node.id] = lm
        adapters[node.id] = node.params.adapter or settings.adapter or getattr(lm, "adapter", "chat")
        hashes[node.id] = lm_identity_hash(lm.identity())
    return lms, adapters, hashes


def _no_lm_error(node, name: str | None) -> PlaitError:
    what = f"the LM named '{name}'" if name else "an LM"
    fix = (f"register it: plait.configure(lms={{'{name}': ...}})" if name else
           "configure one: plait.configure(lm=plait.LocalLM()), or pass lm= to run()")
    return PlaitError(f"node '{node.id}' needs {what}, and none is configured", node=node.id,
                      source=node.source, fix=fix)


def _fanout(stats: RunStats, options: RunOptions, items: int, *more: Callable) -> Callable[[ev.Event], None]:
    consumers: list[Callable] = [stats, *more]
    if show_progress(options.progress, items):
        consumers.append(ProgressBar(items, options.label or "plait"))
    if options.on_event is not None:
        consumers.append(options.on_event)

    def emit(event: ev.Event) -> None:
        for consume in consumers:
            try:
                consume(event)
            except Exception:  # a broken display or callback must never break the run
                log.exception("plait: an event consumer raised on %s", type(event).__name__)

    return emit


def _stored_items(store: Store, run_id: str, plan: Plan) -> list[ItemState]:
    codec = codec_for(plan.of_op(Op.INPUT)[0].outputs)
    states = []
    for i in store.run_items(run_id):
        data = store.read_value(i.input_hash)
        if data == b"{}" and i.status == "failed":  # it never passed input validation
            states.append(ItemState(i.item_id, i.position, {}, "failed", error=InputError(i.error or "invalid input")))
        else:
            states.append(ItemState(i.item_id, i.position, codec.decode(data, f"item {i.item_id}'s input")))
    return states


def _record_input_failures(store: Store, run_id: str, plan: Plan, states: list[ItemState]) -> None:
    input_id = plan.of_op(Op.INPUT)[0].id
    for s in states:
        if s.status == "failed":
            row = JournalRow(run_id, s.item_id, input_id, 0, "", None, "failed", "input", error=str(s.error))
            store.record(row, None, cache=False, item_status="failed")


def _status(states: list[ItemState], stopped: BaseException | None = None) -> str:
    if any(s.status == "running" for s in states):
        return "stopped" if stopped is not None else "interrupted"
    if any(s.status == "waiting" for s in states):
        return "waiting"
    return "failed" if any(s.status == "failed" for s in states) else "done"


def _result(state: ItemState) -> ItemResult:
    outputs = Prediction(state.outputs) if state.outputs is not None else None
    error = str(state.error) if state.error is not None else None
    status = state.status if state.status != "running" else "interrupted"
    return ItemResult(state.item_id, status, outputs, error, state.error, question=state.question)


def new_run_id() -> str:
    """Sortable by start time, unique across processes: ``20261124-011635-3f9a2c``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)

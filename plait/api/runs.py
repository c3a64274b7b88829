"""Running, resuming and forking runs: the entry points behind ``CompiledPipeline.run``,
``plait.resume`` and ``plait.rerun``. All are async; ``plait`` exposes sync facades too."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any, Callable

from plait.api.named import same_work
from plait.api.preflight import check_keys
from plait.api.results import ItemResult, Run, RunStats
from plait.checkpoints.codec import Codec, codec_for
from plait.checkpoints.lease import LeaseKeeper
from plait.checkpoints.protocol import RunRecord, Store
from plait.checkpoints.stores import using_store
from plait.errors import InputError, LeaseHeld, PlaitError, StoreError
from plait.ir.nodes import Op
from plait.ir.plan import Plan
from plait.ir.serialize import plan_from_json, plan_to_json
from plait.lm import config
from plait.pipeline.prediction import Prediction
from plait.runtime import events as ev
from plait.runtime.executor import ItemState
from plait.runtime.items import as_items, item_states
from plait.runtime.journal import StepJournal
from plait.runtime.progress import ProgressBar, show_progress
from plait.runtime.assemble import local_executor, recorded_lms
from plait.runtime.options import RunJob, RunOptions
from plait.runtime.tally import NodeTally

log = logging.getLogger("plait")


async def arun(plan: Plan, data: Any, *, store: Any = None, ids: list[str] | None = None,
               own_lms: dict[str, Any] | None = None, options: RunOptions | None = None) -> Run:
    """Start a new run of ``plan`` over ``data`` (a list of items or one item)."""
    with using_store(store) as opened:
        return await _start(plan, data, opened, ids, own_lms, options or RunOptions())


async def _start(plan: Plan, data: Any, store: Store, ids: list[str] | None, own_lms: dict | None,
                 options: RunOptions) -> Run:
    strict = options.strict if options.strict is not None else config.current().strict
    states, encoded = item_states(plan.of_op(Op.INPUT)[0], as_items(data), ids, strict)
    items = [(s.item_id, e) for s, e in zip(states, encoded)]
    if options.name and (same := same_work(store, options.name, plan, items)):
        return await _resume(same, store, None, own_lms, options)  # the job's run of that name: go on with it
    lms = recorded_lms(plan, options, own_lms or {})
    check_keys(plan, options, own_lms)  # once, before the run exists, not once per item
    run_id = new_run_id()
    with LeaseKeeper(store, run_id, ttl=options.lease_ttl) as lease:
        plan_hash = store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True))
        named = {"name": options.name} if options.name else {}
        record = RunRecord(run_id, plan_hash, "running", time.time(), time.time(),
                           config={"concurrency": options.concurrency, "items": len(states), "lms": lms, **named})
        store.create_run(record, items)
        _record_input_failures(store, run_id, plan, states)
        return await _execute(plan, store, run_id, states, own_lms, options, owner=lease.owner)


async def aresume(run_id: str, *, store: Any = None, plan: Plan | None = None,
                  own_lms: dict[str, Any] | None = None, options: RunOptions | None = None) -> Run:
    """Finish a run from its journal: recorded nodes replay, the rest run. With ``plan`` (an edited
    pipeline), nodes whose content key changed recompute and the run's plan is updated."""
    with using_store(store, create=False) as opened:
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
    states = _stored_items(store, run_id, plan)
    journal = store.journal(run_id)
    plan_hash = store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True))
    if plan_hash != record.plan_hash or _unfinished(plan, states, journal):
        check_keys(plan, options, own_lms)  # a finished run replays with no LM call: it needs no key
    if plan_hash != record.plan_hash:
        store.set_run(run_id, plan_hash=plan_hash)
    store.set_run(run_id, status="running")
    return await _execute(plan, store, run_id, states, own_lms, options, journal=journal, resumed=True, owner=owner)


async def arerun(run_id: str, from_node: str, *, store: Any = None, plan: Plan | None = None,
                 own_lms: dict[str, Any] | None = None, options: RunOptions | None = None) -> Run:
    """Fork ``run_id``: ``from_node`` and its descendants recompute, everything upstream replays."""
    with using_store(store, create=False) as opened:
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
    check_keys(plan, options, own_lms)
    config = {**parent.config, "lms": recorded_lms(plan, options, own_lms or {})}  # what the fork recomputes with
    config.pop("name", None)  # a fork is an experiment beside the named run, not the next run of that name
    fork_id = new_run_id()
    with LeaseKeeper(store, fork_id, ttl=options.lease_ttl) as lease:
        items = store.run_items(run_id)
        store.create_run(RunRecord(fork_id, store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True)),
                                   "running", time.time(), time.time(), run_id, config),
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
    node_runs, recorded = _node_runs(plan, len(states), journal)
    emit(ev.RunStarted(run_id, len(states), len(plan), resumed, node_runs, recorded))
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
               totals=run_totals(store, run_id, stats), plan=plan, tally=tally)


def run_totals(store: Store, run_id: str, stats: RunStats) -> RunStats:
    """The run's counts over every invocation, from its journal (so they hold after a crash); a run
    without a store has only this invocation."""
    if getattr(store, "path", None) == ":none:":
        return stats
    return RunStats.from_summary(store.journal_summary(run_id))


def _node_runs(plan: Plan, items: int, journal: dict | None) -> tuple[int, int]:
    """(node executions of the run in all, those its journal already records): what a resume says
    and where the progress bar starts. INPUT and OUTPUT nodes compute nothing and are left out."""
    computing = {n.id for n in plan.nodes if n.op not in (Op.INPUT, Op.OUTPUT)}
    recorded = sum(1 for (_, node_id, iteration), row in (journal or {}).items()
                   if iteration == 0 and node_id in computing and row.status == "ok")
    return items * len(computing), recorded


def _unfinished(plan: Plan, states: list[ItemState], journal: dict) -> bool:
    """Will the run compute anything? Not when every item's outputs are recorded (a finished run replays)."""
    output = plan.of_op(Op.OUTPUT)[0].id
    return any(s.status == "running" and getattr(journal.get((s.item_id, output, 0)), "status", None) != "ok"
               for s in states)


def _executor(plan: Plan, store: Store, run_id: str, own: dict, options: RunOptions, journal: dict | None,
              force: frozenset, emit: Callable[[ev.Event], None], owner: str | None) -> Any:
    if options.executor is None:
        return local_executor(plan, store, run_id, own, options, journal, force, emit, owner)
    if not hasattr(options.executor, "bind"):
        raise PlaitError("RunOptions(executor=...) is not an executor", field="executor",
                         expected="None or an executor object such as plait.RayExecutor(...)",
                         found=repr(options.executor)[:100],
                         fix="pass executor='ray' to run()/resume()/rerun(), which resolve it, or plait.RayExecutor()")
    return options.executor.bind(RunJob(plan, store, run_id, own, options, journal, force, emit, owner))


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
    states, items = [], store.run_items(run_id)
    inputs = store.read_values([i.input_hash for i in items])  # one query, not one per item
    for i in items:
        data = inputs.get(i.input_hash)
        data = store.read_value(i.input_hash) if data is None else data  # read_value says what is wrong
        if data == b"{}" and i.status == "failed":  # it never passed input validation
            states.append(ItemState(i.item_id, i.position, {}, "failed", error=InputError(i.error or "invalid input")))
        else:
            states.append(_stored_item(codec, i.item_id, i.position, data))
    return states


def _stored_item(codec: Codec, item_id: str, position: int, data: bytes) -> ItemState:
    try:
        return ItemState(item_id, position, codec.decode(data, f"item {item_id}'s input"))
    except StoreError as exc:  # an input that does not read back fails its item, not the run
        return ItemState(item_id, position, {}, "failed", error=exc)


def _record_input_failures(store: Store, run_id: str, plan: Plan, states: list[ItemState]) -> None:
    input_id, journal = plan.of_op(Op.INPUT)[0].id, StepJournal(store, run_id)
    for s in states:
        if s.status == "failed":
            journal.record_input_failure(s.item_id, input_id, str(s.error))


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

"""Running, resuming and forking runs: the entry points behind ``CompiledPipeline.run``,
``plait.resume`` and ``plait.rerun``. All are async; ``plait`` exposes sync facades too."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sized
from pathlib import Path
from typing import Any, Callable

from plait.api.admit import check_resumable, store_items
from plait.api.item_view import StoredItems
from plait.api.named import same_work, unfinished_work
from plait.api.preflight import check_keys
from plait.api.results import ItemResult, Run, RunStats
from plait.checkpoints.codec import codec_for
from plait.checkpoints.lease import LeaseKeeper
from plait.checkpoints.protocol import ItemRecord, RunRecord, Store
from plait.checkpoints.sqlite import SQLiteStore
from plait.checkpoints.stores import using_store
from plait.errors import InputError, LeaseHeld, PlaitError
from plait.hashing import sha256_hex
from plait.ir.nodes import Op
from plait.ir.plan import Plan
from plait.ir.serialize import plan_from_json, plan_to_json
from plait.lm import config
from plait.pipeline.prediction import Prediction
from plait.runtime import events as ev
from plait.runtime.executor import ItemState
from plait.runtime.feed import Computed, ItemFeed, stored_states
from plait.runtime.items import check_ids, encoded_items, item_source
from plait.runtime.progress import ProgressBar, show_progress
from plait.runtime.assemble import local_executor, recorded_lms, resolve_lms
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
    input_node, source = plan.of_op(Op.INPUT)[0], item_source(data)
    if ids is not None:  # checked against the items before the run exists
        source = source if isinstance(source, Sized) else list(source)
        check_ids(ids, len(source))
    streamed = _streamed(store, options)
    # an optimizer's evaluation records its LMs' identity hashes: only the same LMs go on with its work
    identities = resolve_lms(plan, options, own_lms or {})[2] if options.resume_unfinished else None
    if not streamed:  # every item is held in memory: no store file to read them back from
        source = list(encoded_items(input_node, source, ids, strict))
        encoded = [(s.item_id, b) for s, b in source]
        same = (same_work(store, options.name, plan, encoded) if options.name  # the job's run of that name
                else unfinished_work(store, plan, encoded, identities) if identities is not None else None)
        if same:
            return await _resume(same, store, None, own_lms, options)  # go on with it
    lms = recorded_lms(plan, options, own_lms or {})
    check_keys(plan, options, own_lms)  # once, before the run exists, not once per item
    run_id = new_run_id()
    with LeaseKeeper(store, run_id, ttl=options.lease_ttl) as lease:
        plan_hash = store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True))
        named = {"name": options.name} if options.name else {}
        record = RunRecord(run_id, plan_hash, "running", time.time(), time.time(), config={
            "concurrency": options.concurrency, "items": len(source) if isinstance(source, Sized) else None,
            "lms": lms, **named, **({"lm_identities": identities} if identities is not None else {})})
        items = source if not streamed else encoded_items(input_node, source, ids, strict)
        admitted = store_items(store, record, items, input_node.id)
        if streamed:  # read back from the store as the executor takes them; done ones forgotten
            ids = ids or Computed(admitted.count, str)
            digests = Computed(admitted.count, lambda p: admitted.digests[32 * p: 32 * p + 32].hex())
            states = stored_states(store, codec_for(input_node.outputs), ids, digests, admitted.failures)
            feed = ItemFeed(admitted.count, states, keep_done=False, ids=ids)
        else:
            feed = ItemFeed(len(source), [s for s, _ in source])
        return await _execute(plan, store, run_id, feed, own_lms, options, owner=lease.owner)


def _streamed(store: Store, options: RunOptions) -> bool:
    """Are the run's items streamed through the store and its results read back from it? With a
    SQLite file and this process's executor; not for a named run, which compares its items with
    the last run of its name first, nor for one that may go on with an unfinished run."""
    return (isinstance(store, SQLiteStore) and store.path != ":memory:" and options.executor is None
            and not options.name and not options.resume_unfinished)


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
    check_resumable(record)
    stored = plan_from_json(json.loads(store.load_plan(record.plan_hash)), f"the plan of run {run_id}")
    plan = plan or stored
    items, recorded = store.run_items(run_id), store.recorded_counts(run_id)
    plan_hash = store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True))
    if plan_hash != record.plan_hash or _unfinished(plan, items, recorded):
        check_keys(plan, options, own_lms)  # a finished run replays with no LM call: it needs no key
    if plan_hash != record.plan_hash:
        store.set_run(run_id, plan_hash=plan_hash)
    store.set_run(run_id, status="running")
    # after an edit, recomputed outputs do not replace the journal's (an 'ok' row is final): keep them in memory
    feed = _stored_feed(store, items, plan, _streamed(store, options) and plan_hash == record.plan_hash)
    journal = store.journal(run_id) if _every_row_first(options) else None  # else read for what replay leaves
    return await _execute(plan, store, run_id, feed, own_lms, options, journal=journal, recorded=recorded, owner=owner)


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
        feed = _stored_feed(store, store.run_items(fork_id), plan, _streamed(store, options))
        return await _execute(plan, store, fork_id, feed, own_lms, options, journal=store.journal(fork_id),
                              force=force, recorded=store.recorded_counts(fork_id), owner=lease.owner)


async def _execute(plan: Plan, store: Store, run_id: str, feed: ItemFeed, own_lms: dict | None,
                   options: RunOptions, journal: dict | None = None, force: frozenset = frozenset(),
                   recorded: dict[str, int] | None = None, owner: str | None = None) -> Run:
    """Run the feed's items. ``recorded``: a resumed run's finished rows per node (None: a new run);
    ``journal``: its rows, when read up front (else the executor reads those replay leaves)."""
    stats, tally = RunStats(), NodeTally()
    emit = _fanout(stats, options, len(feed), tally)
    resumed = recorded is not None
    executor = _executor(plan, store, run_id, own_lms or {}, options, journal, force, emit, owner, resumed)
    started = time.perf_counter()
    node_runs, replays = _node_runs(plan, len(feed), recorded or {})
    emit(ev.RunStarted(run_id, len(feed), len(plan), resumed, node_runs, replays))
    lost = False
    try:
        await executor.run(feed)
    except LeaseHeld:
        lost = True  # another process took the run over: its status is now that process's to write
        raise
    finally:
        stats.seconds = time.perf_counter() - started
        status = feed.finish(executor.stopped is not None)
        if not lost:
            store.set_run(run_id, status=status)
        emit(ev.RunFinished(run_id, status, stats.as_dict()))
    reason = str(executor.stopped) if status == "stopped" else None
    return Run(run_id, getattr(store, "path", None), status, _results(feed, store, run_id, plan), stats, reason,
               totals=run_totals(store, run_id, stats), plan=plan, tally=tally)


def _results(feed: ItemFeed, store: Store, run_id: str, plan: Plan) -> Any:
    """Every item's result: in memory, or (a streamed run) read from the store when asked."""
    kept = {position: _result(state) for position, state in feed.kept.items()}
    if feed.keep_done:
        return [kept[p] for p in range(feed.count)]
    return StoredItems(str(Path(store.path).resolve()), run_id, plan.of_op(Op.OUTPUT)[0], feed.ids, kept)


def run_totals(store: Store, run_id: str, stats: RunStats) -> RunStats:
    """The run's counts over every invocation, from its journal (so they hold after a crash); a run
    without a store has only this invocation."""
    if getattr(store, "path", None) == ":none:":
        return stats
    return RunStats.from_summary(store.journal_summary(run_id))


def _node_runs(plan: Plan, items: int, recorded: dict[str, int]) -> tuple[int, int]:
    """(node executions of the run in all, those its journal already records): what a resume says
    and where the progress bar starts. INPUT and OUTPUT nodes compute nothing and are left out."""
    computing = {n.id for n in plan.nodes if n.op not in (Op.INPUT, Op.OUTPUT)}
    return items * len(computing), sum(count for node_id, count in recorded.items() if node_id in computing)


def _unfinished(plan: Plan, items: list[ItemRecord], recorded: dict[str, int]) -> bool:
    """Will the run compute anything? Not when every item's outputs are recorded (a finished run
    replays) or it never passed input validation (such an item has no row at its OUTPUT node)."""
    output = plan.of_op(Op.OUTPUT)[0].id
    return recorded.get(output, 0) < sum(1 for i in items if not _never_valid(i))


def _every_row_first(options: RunOptions) -> bool:
    """Must a resume read its whole journal before it starts? For a budget, which counts what every
    row spent, and for another executor (Ray), which sends each shard its rows; else the finished
    items replay from the store and only the others' rows are read (runtime/replay.py)."""
    return options.budget is not None or options.executor is not None


def _executor(plan: Plan, store: Store, run_id: str, own: dict, options: RunOptions, journal: dict | None,
              force: frozenset, emit: Callable[[ev.Event], None], owner: str | None, resumed: bool) -> Any:
    if options.executor is None:
        return local_executor(plan, store, run_id, own, options, journal, force, emit, owner, resumed=resumed)
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


def _stored_feed(store: Store, items: list[ItemRecord], plan: Plan, streamed: bool) -> ItemFeed:
    """A stored run's items, their inputs read in one query and decoded as the executor takes them;
    ``streamed``: done items are dropped, their results read back from the store."""
    failed = {i.position: ItemState(i.item_id, i.position, {}, "failed", error=InputError(i.error or "invalid input"))
              for i in items if _never_valid(i)}
    ids = [i.item_id for i in items]
    states = stored_states(store, codec_for(plan.of_op(Op.INPUT)[0].outputs), ids, [i.input_hash for i in items],
                           failed, chunk=max(1, len(ids)))
    return ItemFeed(len(ids), states, keep_done=not streamed, ids=ids)


def _never_valid(item: ItemRecord) -> bool:
    return item.status == "failed" and item.input_hash == _NO_INPUT


_NO_INPUT = sha256_hex(b"{}")  # what an item that did not pass input validation stores as its input


def _result(state: ItemState) -> ItemResult:
    outputs = Prediction(state.outputs) if state.outputs is not None else None
    error = str(state.error) if state.error is not None else None
    status = state.status if state.status != "running" else "interrupted"
    return ItemResult(state.item_id, status, outputs, error, state.error, question=state.question)


def new_run_id() -> str:
    """Sortable by start time, unique across processes: ``20261124-011635-3f9a2c``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)

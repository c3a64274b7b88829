"""Shards: the unit of work of a distributed run. A shard is a few dozen items of one run; a worker
process runs it with plait's own :class:`Executor` (check, else run and record) against the shared
store, exactly as a local run runs all its items, and reports each item's status, not its values:
the driver reads the outputs from the store.

Nothing here knows Ray (``ray_workers.py`` wraps a :class:`ShardRunner` in an actor), so that what
a worker does can be run and tested in one process. What a worker is sent:

- a :class:`RunSpec`, once per run and worker: where the store is (a path or URL the worker opens
  itself; a Store object is never sent), the plan by its hash in the store (its steps are imported
  by module path), the LMs, the portable run options, and the driver's lease token;
- per shard, its items (id, position, inputs): ids and positions are the driver's, so a run's item
  order and ids are those of a local run.

A worker records under the driver's lease token: while the driver holds the run's lease every
worker's writes go in; once another process takes the run over (the driver died and a new
``plait resume`` took the lease), the store refuses them (LeaseHeld) and the shard stops.
A shard sent again (its worker was killed) reads its items' journal first, so only the calls that
were in flight when the worker died are made again.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from plait.runtime.assemble import local_executor
from plait.runtime.options import RunOptions
from plait.checkpoints.codec import codec_for
from plait.checkpoints.protocol import Store
from plait.checkpoints.stores import open_store
from plait.errors import PlaitError, PlanLoadError
from plait.ir.locations import MAIN as MAIN_MODULE, module_location
from plait.ir.nodes import Op
from plait.ir.plan import Plan
from plait.ir.serialize import plan_from_json
from plait.lm import config
from plait.runtime import events as ev
from plait.runtime.budget import BudgetReached
from plait.runtime.executor import ItemState, value_fields
from plait.runtime.limits import CallGate


@dataclass(frozen=True)
class RunSpec:
    """What a worker needs for every shard of one run. ``options`` are portable: no callbacks,
    clock, budget or rate limits (the driver and the run's limits keep those); ``settings``: the
    driver's ``plait.configure`` defaults (LM, named LMs, adapter), which a worker lacks."""

    store: str
    run_id: str
    plan_hash: str
    owner: str | None
    options: RunOptions
    settings: config.Settings
    own_lms: dict[str, Any] = field(default_factory=dict)
    force: frozenset[str] = frozenset()
    main: dict[str, Any] = field(default_factory=dict)  # the plan's steps and types from __main__, by name
    main_location: str = MAIN_MODULE  # how the plan names the driver's __main__: its script's path, if any


@dataclass(frozen=True)
class ShardItem:
    item_id: str
    position: int
    inputs: dict[str, Any]


@dataclass(frozen=True)
class ItemOutcome:
    """One item's fate in its shard: 'done', 'failed', 'waiting', or 'running' (stopped unfinished)."""

    item_id: str
    status: str
    error: PlaitError | None = None
    question: Any = None


@dataclass
class ShardResult:
    items: list[ItemOutcome]
    events: list[ev.Event]
    stopped: tuple[str, float, float] | None = None  # the budget's stop: (limit, used, maximum)


class ShardRunner:
    """Runs shards in one worker process, keeping what costs something to open: one connection
    per store and each plan, loaded once. The LMs come with the run's spec, which the caller keeps
    per run, so the embedded model is loaded once per process and breakers keep their state."""

    def __init__(self) -> None:
        self._stores: dict[str, Store] = {}
        self._plans: dict[str, Plan] = {}

    async def run(self, spec: RunSpec, items: list[ShardItem], gate: CallGate) -> ShardResult:
        store = self.store(spec.store)
        plan = self.plan(store, spec)
        events: list[ev.Event] = []
        journal = store.journal(spec.run_id, [i.item_id for i in items])  # what an earlier attempt recorded
        states = [ItemState(i.item_id, i.position, i.inputs) for i in items]
        defaults = spec.settings  # the driver's plait.configure(...), which this process lacks
        with config.context(lm=defaults.lm, lms=defaults.lms, adapter=defaults.adapter):
            executor = local_executor(plan, store, spec.run_id, spec.own_lms, spec.options, journal, spec.force,
                                      events.append, spec.owner, gate=gate)
            await executor.run(states)
        stop = executor.stopped
        return ShardResult([_outcome(state) for state in states], events,
                           (stop.limit, stop.used, stop.maximum) if stop is not None else None)

    def store(self, locator: str) -> Store:
        if locator not in self._stores:
            self._stores[locator] = open_store(locator)
        return self._stores[locator]

    def plan(self, store: Store, spec: RunSpec) -> Plan:
        if spec.plan_hash not in self._plans:
            self._plans[spec.plan_hash] = load_plan(store, spec)
        return self._plans[spec.plan_hash]

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()


def main_objects(plan_json: str) -> dict[str, Any]:
    """The driver's objects that the plan names in ``__main__`` (a notebook's cells; a script, named
    by its path): a worker may not reach them, so they travel with the run's spec (by value, as Ray
    pickles them)."""
    main = sys.modules["__main__"]
    names = {part.split('"', 1)[0].split(".")[0] for prefix in _main_prefixes(module_location(MAIN_MODULE))
             for part in plan_json.split(prefix)[1:]}
    return {name: getattr(main, name) for name in sorted(names) if hasattr(main, name)}


def _main_prefixes(location: str) -> set[str]:
    return {f'"{MAIN_MODULE}:', f'"{location}:'}


def load_plan(store: Store, spec: RunSpec) -> Plan:
    """The run's plan from the store; its steps and types are imported here, by module path, and
    those of the driver's ``__main__`` from a module made of what the spec brought."""
    text = store.load_plan(spec.plan_hash)
    if spec.main:
        module = types.ModuleType(f"plait_driver_main_{spec.plan_hash[:16]}")
        module.__dict__.update(spec.main)
        sys.modules[module.__name__] = module
        for prefix in _main_prefixes(spec.main_location):
            text = text.replace(prefix, f'"{module.__name__}:')
    try:
        return plan_from_json(json.loads(text), f"the plan of run {spec.run_id}")
    except PlanLoadError as exc:
        raise PlanLoadError(
            f"a worker cannot load the plan of run {spec.run_id}: {exc.summary}", found=exc.found,
            expected="every step and type of the plan importable by its module path on every worker",
            fix="make the module importable on the cluster: plait.RayExecutor(runtime_env={'working_dir': '.'}), "
                "or install it there (steps and types defined in a notebook or __main__ are sent along)") from None


def _outcome(state: ItemState) -> ItemOutcome:
    error = state.error
    if error is not None and not isinstance(error, PlaitError):  # sent back by pickle: plait's errors are
        error = PlaitError(str(error))
    return ItemOutcome(state.item_id, state.status, error, state.question)


def absorb(result: ShardResult, states: dict[str, ItemState], store: Store, run_id: str, plan: Plan) -> None:
    """Copy a shard's outcomes into the driver's item states; a done item's outputs are read from
    the store (its OUTPUT node's recorded value), as a replay would read them."""
    output = plan.of_op(Op.OUTPUT)[0]
    codec = codec_for(value_fields(output))
    done = [o.item_id for o in result.items if o.status == "done"]
    rows = store.journal(run_id, done) if done else {}
    for outcome in result.items:
        state = states[outcome.item_id]
        state.status, state.error, state.question = outcome.status, outcome.error, outcome.question
        if outcome.status == "done":
            row = rows[(outcome.item_id, output.id, 0)]
            state.outputs = codec.decode(store.read_value(row.value_hash), f"the outputs of item {outcome.item_id}")


def budget_stop(stopped: tuple[str, float, float] | None) -> BudgetReached | None:
    return BudgetReached(*stopped) if stopped is not None else None

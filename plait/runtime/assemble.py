"""Assembling a run's executor in this process: its LMs (by name, default, recorded), their
adapters and identity hashes, the guards and the LM caller. The local run and every Ray worker build
their executors here, from the plan, a store and the run's options."""

from __future__ import annotations

import difflib
import random
from typing import Any, Callable

from plait.checkpoints.keys import lm_identity_hash
from plait.checkpoints.protocol import Store
from plait.clock import REAL_CLOCK
from plait.errors import PlaitError
from plait.ir.plan import Plan
from plait.lm import config
from plait.lm.adapters import ADAPTERS, unknown_adapter
from plait.lm.conformance import check_lm
from plait.lm.dspy_lm import as_lm
from plait.lm.protocol import adapter_of
from plait.runtime import events as ev
from plait.runtime.budget import BudgetMeter, journal_spending
from plait.runtime.calls import LMCaller
from plait.runtime.executor import Executor
from plait.runtime.limits import CallGate, LocalGate
from plait.runtime.lm_specs import run_lms
from plait.runtime.loops import lm_nodes, loop_lm_hashes
from plait.runtime.nodes import NodeRunner
from plait.runtime.options import RunOptions
from plait.runtime.policies import resolve_guards


def local_executor(plan: Plan, store: Store, run_id: str, own: dict, options: RunOptions, journal: dict | None,
                   force: frozenset, emit: Callable[[ev.Event], None], owner: str | None,
                   gate: CallGate | None = None, resumed: bool = False) -> Executor:
    """The executor that runs items in this process. ``gate``: where the budget and rate limits are
    kept; by default here, the budget counting from what ``journal`` records. ``resumed`` without a
    ``journal``: the executor reads the rows of the items replay leaves (executor.py)."""
    named = named_lms(options, own)
    lms, adapters, hashes = resolve_lms(plan, options, own, named)
    guards = resolve_guards(lm_nodes(plan), lms, hashes, options, named)
    hashes.update(loop_lm_hashes(plan, hashes, adapters))
    clock = options.clock or REAL_CLOCK
    if gate is None:
        meter = None
        if options.budget is not None:
            meter = BudgetMeter(options.budget, *journal_spending((journal or {}).values()))
        gate = LocalGate(meter, clock)
    caller = LMCaller(run_id, clock=clock, rng=random.Random(options.seed), gate=gate, emit=emit)
    return Executor(plan, store, NodeRunner(guards, adapters, options.parse_retries, caller), run_id=run_id,
                    lm_hashes=hashes, journal=journal, force=force, concurrency=options.concurrency, emit=emit,
                    clock=clock, reset_attempts=options.reset_attempts, owner=owner,
                    resumed=resumed)


def named_lms(options: RunOptions, own: dict[str, Any]) -> dict[str, Any]:
    """The LMs known by name: configured, given to the run, and given to modules as objects."""
    return {k: as_lm(v) for k, v in {**config.current().lms, **(options.lms or {}), **own}.items()}


def default_lm(options: RunOptions) -> Any:
    """The LM of nodes that name none: the run's ``lm=``, else the configured one (a dspy.LM works too)."""
    return as_lm(options.lm if options.lm is not None else config.current().lm)


def recorded_lms(plan: Plan, options: RunOptions, own: dict[str, Any]) -> dict[str, Any]:
    """What the run's config records about its LMs (see lm_specs.py): no credential, JSON."""
    return run_lms(plan, default_lm(options), named_lms(options, own), options.fallbacks, options.lm_specs)


def resolve_lms(plan: Plan, options: RunOptions, own: dict[str, Any],
                named: dict[str, Any] | None = None) -> tuple[dict, dict, dict]:
    """Per PREDICT node: its LM object, its adapter name, and its LM identity hash."""
    settings = config.current()
    named = named if named is not None else named_lms(options, own)
    default = default_lm(options)
    lms, adapters, hashes, identities = {}, {}, {}, {}
    for node in lm_nodes(plan):
        lm = named.get(node.params.lm) if node.params.lm else default
        if lm is None:
            raise _no_lm_error(node, node.params.lm, sorted(named))
        if id(lm) not in identities:  # each LM checked and hashed once, however many nodes use it
            identities[id(lm)] = lm_identity_hash(check_lm(lm).identity())
        lms[node.id], hashes[node.id] = lm, identities[id(lm)]
        adapters[node.id] = _adapter(node, settings, lm)
    return lms, adapters, hashes


def _adapter(node, settings: config.Settings, lm: Any) -> str:
    """The node's adapter name, refused at run start (before any item) when plait has none by that name."""
    for name, given_by in ((node.params.adapter, "the module's adapter="),
                           (settings.adapter, "plait.configure(adapter=...)"),
                           (adapter_of(lm), f"the adapter attribute of LM '{lm.name}'")):
        if name:
            if name not in ADAPTERS:
                raise unknown_adapter(node, name, given_by=given_by)
            return name
    return "chat"


def _no_lm_error(node, name: str | None, known: list[str]) -> PlaitError:
    what = f"the LM named '{name}'" if name else "an LM"
    close = difflib.get_close_matches(name, known, n=1) if name else []
    fix = (f"did you mean '{close[0]}'? " if close else "") + (
        f"register it: plait.configure(lms={{'{name}': ...}}) or run(..., lms={{'{name}': ...}})" if name else
        "configure one: plait.configure(lm=plait.LocalLM()), or pass lm= to run()")
    return PlaitError(f"node '{node.id}' needs {what}, and none is configured", node=node.id, field="lm",
                      field_kind="parameter", source=node.source,
                      expected=f"one of the LMs known by name: {', '.join(known)}" if name and known else None,
                      found=repr(name) if name else None, fix=fix)

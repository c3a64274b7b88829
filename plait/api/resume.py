"""``plait.resume`` and ``plait.rerun``: continue or fork a run recorded in a store."""

from __future__ import annotations

from typing import Any

from plait.api import runs
from plait.api.durable import DurableProgram, durable_run_program
from plait.api.results import Run
from plait.errors import PlaitError
from plait.runtime.executors import run_options
from plait.runtime.sync import run_sync


async def aresume(run_id: str, *, store: Any = None, pipeline: Any = None, **options: Any) -> Run:
    """Async :func:`resume`, for code already inside an event loop."""
    if pipeline is None:
        pipeline = durable_run_program(run_id, store)  # a run of plait.durable: its program, reloaded
    if isinstance(pipeline, DurableProgram):
        return await pipeline.aresume(run_id, store=store, **options)
    plan, lms = _plan_of(pipeline)
    return await runs.aresume(run_id, store=store, plan=plan, own_lms=lms, options=run_options(**options))


def resume(run_id: str, *, store: Any = None, pipeline: Any = None, **options: Any) -> Run:
    """Finish a run after a crash or a stop: no LM call for any node already recorded.

    A recorded output replays whichever LM produced it (a fallback's too), and a finished item
    comes back as recorded: the options (those of ``CompiledPipeline.run``: ``lm=``,
    ``fallbacks=``, ``retry=``, ``budget=``, ...) decide only how the unfinished nodes run. Pass
    ``pipeline=`` (an edited, recompiled pipeline) to resume after an edit: exactly the nodes
    whose prompt, code or input values changed recompute.

    Example::

        run = plait.resume("20261124-011635-3f9a2c", store="runs.db")
    """
    return run_sync(aresume(run_id, store=store, pipeline=pipeline, **options))


async def arerun(run_id: str, *, from_node: str, store: Any = None, pipeline: Any = None, **options: Any) -> Run:
    """Async :func:`rerun`, for code already inside an event loop."""
    if isinstance(pipeline, DurableProgram) or (pipeline is None and durable_run_program(run_id, store)):
        raise PlaitError(f"run {run_id} ran a DSPy program journaled (plait.durable): it cannot be forked from a "
                         "node", node=from_node, expected="a run of a compiled pipeline",
                         found="a journaled run, whose calls are recorded in the order forward made them",
                         fix="start a new run of the edited program (plait.durable(program).run(...)); calls whose "
                             "prompt and inputs are unchanged are reused from the cache")
    plan, lms = _plan_of(pipeline)
    return await runs.arerun(run_id, from_node, store=store, plan=plan, own_lms=lms, options=run_options(**options))


def rerun(run_id: str, *, from_node: str, store: Any = None, pipeline: Any = None, **options: Any) -> Run:
    """Fork a run: ``from_node`` and everything downstream recompute, all upstream nodes replay.

    Returns the new run; the original is unchanged.

    Example::

        fork = plait.rerun(run.id, from_node="pipeline.classify", store="runs.db")
    """
    return run_sync(arerun(run_id, from_node=from_node, store=store, pipeline=pipeline, **options))


def _plan_of(pipeline: Any):
    if pipeline is None:
        return None, None
    return pipeline.plan, pipeline.lms

"""``plait.durable``: run any DSPy program durably, as written, without a rewrite.

The journaled way in (DESIGN.md, "DSPy programs"): ``forward`` runs eagerly per item and every
predictor and ReAct tool call is recorded under (run, item, call path, ordinal); a killed run
resumes with no LM call for any recorded call (plait/runtime/durable.py). Its runs are ordinary
runs: ``plait runs``, ``plait show``, ``plait resume``, the displays and ``plait.evaluate``.
"""

from __future__ import annotations

import json
from typing import Any

import dspy

from plait.api import runs
from plait.api.results import Run
from plait.checkpoints.stores import using_store
from plait.compiler.passes import check_types, fingerprint, run_passes
from plait.errors import PlaitError
from plait.ir.plan import Plan
from plait.pipeline.prediction import Prediction
from plait.runtime.durable import DurableExecutor
from plait.runtime.durable_plan import durable_plan, load_program
from plait.runtime.options import RunOptions
from plait.runtime.sync import run_sync


def durable(program: dspy.Module, *, name: str | None = None) -> DurableProgram:
    """``program`` (any ``dspy.Module``), runnable over a dataset with every call journaled.

    Example::

        qa = plait.durable(MyDSPyProgram())
        run = qa.run(dataset, store="runs.db", lm=plait.LocalLM())
        plait.resume(run.id, store="runs.db")   # after a crash: recorded calls are not made again

    ``name``: the prefix of the predictors' node ids (default: the class name, ``MultiHop`` -> ``multi_hop``).
    """
    if not isinstance(program, dspy.Module):
        raise PlaitError("plait.durable takes a DSPy program", expected="a dspy.Module instance",
                         found=f"{type(program).__name__}", fix="pass an instance: plait.durable(MyProgram())")
    return DurableProgram(program, name)


class DurableProgram:
    """A DSPy program whose runs are journaled; see :func:`durable`."""

    def __init__(self, program: dspy.Module, name: str | None = None) -> None:
        self.program = program
        self.plan: Plan = run_passes(durable_plan(program, name), passes=[check_types, fingerprint])
        self.lms: dict[str, Any] = {}  # the predictors' LM is the run's lm=, like a plan's nodes naming none

    def run(self, data: Any, *, store: Any = None, ids: list[str] | None = None, **options: Any) -> Run:
        """Run over a dataset (dicts or ``dspy.Example`` s with ``forward``'s parameters as fields).
        Options are those of ``CompiledPipeline.run``: ``lm``, ``concurrency``, ``retry``,
        ``fallbacks``, ``rate_limits``, ``budget``, ``progress``, ..."""
        return run_sync(self.arun(data, store=store, ids=ids, **options))

    async def arun(self, data: Any, *, store: Any = None, ids: list[str] | None = None, **options: Any) -> Run:
        return await runs.arun(self.plan, data, store=store, ids=ids, options=self._options(options))

    def resume(self, run_id: str, *, store: Any = None, **options: Any) -> Run:
        """Finish a run of this program: every recorded call replays, the rest run."""
        return run_sync(self.aresume(run_id, store=store, **options))

    async def aresume(self, run_id: str, *, store: Any = None, **options: Any) -> Run:
        name, _ = stored_plan(run_id, store)
        me = self if name == self.plan.name else DurableProgram(self.program, name)  # the run's node ids
        return await runs.aresume(run_id, store=store, plan=me.plan, options=me._options(options))

    def __call__(self, **inputs: Any) -> Prediction:
        """One item, no store: its outputs, or its error raised."""
        result = self.run([inputs], store=False, progress=False).items[0]
        if result.status != "done":
            raise result.exception or PlaitError(result.error or "the item did not finish")
        return result.outputs

    def _options(self, options: dict[str, Any]) -> RunOptions:
        if options.get("executor") not in (None, "local"):
            raise PlaitError("a durable DSPy program runs in this process", field="executor",
                             expected="executor=None", found=repr(options["executor"])[:100],
                             fix="leave executor= out; compile the program (plait.compile) to run it on Ray")
        return RunOptions(**{**options, "executor": DurableExecutor(self.program)})

    def __repr__(self) -> str:
        return f"plait.durable({type(self.program).__name__}): {len(self.plan.nodes) - 2} predictors"


def durable_run_program(run_id: str, store: Any) -> DurableProgram | None:
    """The program of ``run_id`` if it is a durable run (rebuilt from its class path and state), else None."""
    name, meta = stored_plan(run_id, store)
    if "durable" not in meta:
        return None
    return DurableProgram(load_program(meta["durable"], run_id), name)


def stored_plan(run_id: str, store: Any) -> tuple[str, dict[str, Any]]:
    """The name and meta of the plan ``run_id`` runs (RunNotFound for an unknown run)."""
    with using_store(store, create=False) as opened:
        plan = json.loads(opened.load_plan(opened.get_run(run_id).plan_hash))
    return plan.get("name") or "", plan.get("meta") or {}

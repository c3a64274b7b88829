"""``plait.compile`` and CompiledPipeline: a verified, fingerprinted plan you can run, save, load,
print and diff. Compiling is also how a module called outside a trace runs (``install_runner``)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

from plait.api import dspy_state, runs
from plait.compiler.diff import diff_plans
from plait.compiler.lower import lower
from plait.compiler.passes import run_passes
from plait.display.html import pipeline_html
from plait.display.svg import Graph, plan_svg
from plait.errors import PlaitError, PlanError, PlanLoadError
from plait.ir.fingerprint import node_fingerprint
from plait.ir.nodes import Op
from plait.ir.plan import Plan
from plait.ir.printer import format_plan
from plait.ir.rules import rule_for
from plait.ir.serialize import plan_from_json, plan_to_json
from plait.pipeline.dspy_trace import DSPyProgram, as_plait_module, is_dspy_module
from plait.pipeline.eager import install_runner
from plait.pipeline.module import Module
from plait.pipeline.predict import Predict
from plait.pipeline.prediction import Prediction
from plait.runtime.executors import run_options
from plait.runtime.sync import run_sync


def compile(program: Module, *, name: str | None = None, optimizer: Any = None, trainset: Any = None,
            metric: Any = None, valset: Any = None, **optimizer_options: Any) -> CompiledPipeline:
    """Trace ``program`` into a typed plan, verify it, type-check, prune and fingerprint it.

    ``program`` is a plait Module or an existing ``dspy.Module`` (its Predict and ChainOfThought
    calls become nodes; see docs/dspy.md).

    With ``optimizer=`` (e.g. ``plait.BootstrapFewShot()``), the optimizer runs as a last pass
    over ``trainset`` with ``metric`` and writes each node's demos or instructions; search
    optimizers (``plait.RandomSearch``, ``plait.MIPRO``, ``plait.GEPA``) score candidates on ``valset``.

    Example::

        compiled = plait.compile(Pipeline())
        print(compiled)
    """
    if is_dspy_module(program):  # an existing dspy.Module: traced with its predictors intercepted
        program = as_plait_module(program)
    plan = lower(program, name)
    if isinstance(program, DSPyProgram):
        plan = plan.with_meta(dspy=dspy_state.origin_meta(plan.name, program))
    compiled = CompiledPipeline(run_passes(plan), _module_lms(program))
    compiled.dspy_program = program.program if isinstance(program, DSPyProgram) else None
    if valset is not None:
        optimizer_options["valset"] = valset
    if optimizer is not None:
        compiled = optimizer.compile(compiled, trainset=trainset, metric=metric, **optimizer_options)
    return compiled


def _module_lms(program: Module) -> dict[str, Any]:
    """LM objects passed to modules as ``lm=``, by name, so that runs can find them."""
    lms: dict[str, Any] = {}
    for path, module in program.named_modules():
        if isinstance(module, Predict) and module.lm is not None and not isinstance(module.lm, str):
            seen = lms.setdefault(module.lm.name, module.lm)
            if seen is not module.lm and seen.identity() != module.lm.identity():
                raise PlanError(f"two different LMs are both named '{module.lm.name}'", node=path,
                                expected="one LM per name", found=f"{seen.identity()} and {module.lm.identity()}",
                                fix="give each LM its own name=..., e.g. DSPyLM(model, name='judge')")
    return lms


class CompiledPipeline:
    """The result of :func:`plait.compile`.

    Example::

        compiled = plait.compile(Pipeline())
        print(compiled)                                  # the plan, one line per node
        run = compiled.run(dataset, store="runs.db")     # durable, concurrent
        compiled(document="...")                         # one item, no store
        compiled.save("plan.json"); plait.CompiledPipeline.load("plan.json")
    """

    def __init__(self, plan: Plan, lms: dict[str, Any] | None = None) -> None:
        self.plan = plan
        self.lms = dict(lms or {})  # LM objects given to modules as lm=..., by name
        self.dspy_program: Any = None  # the dspy.Module this was compiled from, for to_dspy()

    # --- running ------------------------------------------------------------------------------
    def run(self, data: Any, *, store: Any = None, ids: list[str] | None = None, **options: Any) -> runs.Run:
        """Run over a dataset (a list of dicts, DSPy Examples or pydantic models) or one item.

        ``store``: a path (default ``$PLAIT_STORE`` or ``.plait/runs.db``), a Store, or False for
        none. Options: ``lm``, ``lms``, ``concurrency`` (items in flight, 32), ``progress``, ``on_event``,
        ``parse_retries`` (2), and ``retry``, ``timeout``, ``node_timeout``, ``rate_limits``,
        ``breakers``, ``fallbacks``, ``budget``, ``clock``, ``seed`` (see ``RunOptions``), and
        ``executor``: None (this process), ``"ray"`` or a ``plait.RayExecutor`` (a Ray cluster).
        Failed items are in ``run.failed``; they never hide the others.
        """
        return run_sync(self.arun(data, store=store, ids=ids, **options))

    async def arun(self, data: Any, *, store: Any = None, ids: list[str] | None = None, **options: Any) -> runs.Run:
        return await runs.arun(self.plan, data, store=store, ids=ids, own_lms=self.lms, options=run_options(**options))

    def __call__(self, **inputs: Any) -> Prediction:
        """Run one item without a store and return its outputs; raises the item's error."""
        run = self.run([inputs], store=False, progress=False)
        result = run.items[0]
        if result.status == "waiting":
            raise PlaitError(f"the item waits for a person's answer at node '{result.question.node_id}': "
                             f"{result.question.question}", node=result.question.node_id,
                             fix="run it with a store, answer with plait.answer, then plait.resume: "
                                 "run = compiled.run([inputs], store='runs.db')")
        if result.status != "done":
            raise result.exception or PlaitError(result.error or "the item did not finish")
        return result.outputs

    # --- editing ------------------------------------------------------------------------------
    def update(self, node_id: str, *, instructions: str | None = None, demos: list[dict] | None = None,
               provenance: dict[str, Any] | None = None, signature: Any = None, **settings: Any) -> CompiledPipeline:
        """A copy with one PREDICT node's prompt state changed (and its fingerprint recomputed)."""
        node = self._predict_node(node_id)
        params = node.params if signature is None else dataclasses.replace(node.params, signature=signature)
        if instructions is not None:
            params = dataclasses.replace(params, signature=params.signature.with_instructions(instructions))
        if demos is not None:
            params = dataclasses.replace(params, demos=tuple(dict(d) for d in demos))
        if provenance is not None:
            params = dataclasses.replace(params, provenance=dict(provenance))
        if settings:
            params = dataclasses.replace(params, settings={**params.settings, **settings})
        node = node.with_(params=params)
        plan = self.plan.replace_nodes([node.with_(fingerprint=node_fingerprint(node))])
        updated = CompiledPipeline(run_passes(plan, passes=[]), self.lms)
        updated.dspy_program = self.dspy_program
        return updated

    # --- DSPy state, both ways ------------------------------------------------------------------
    def to_dspy(self, program: Any = None) -> Any:
        """A copy of the DSPy program this was compiled from (or of ``program``), each predictor
        with this plan's demos and instructions; ``.save("x.json")`` writes what DSPy's ``load`` reads."""
        return dspy_state.to_dspy(self.plan, program if program is not None else self.dspy_program)

    def load_dspy_state(self, path: str | Path) -> CompiledPipeline:
        """A copy with the demos, instructions and field descriptions of a DSPy ``program.save()``
        JSON file applied to the predictor nodes of the program this was compiled from."""
        compiled = self
        for node_id, signature, demos in dspy_state.state_updates(self.plan, path):
            compiled = compiled.update(node_id, signature=signature, demos=demos)
        return compiled

    def _predict_node(self, node_id: str):
        node = self.plan.get(node_id)
        if node is None or node.op is not Op.PREDICT:
            known = ", ".join(n.id for n in self.plan.of_op(Op.PREDICT))
            raise PlaitError(f"no predict node '{node_id}' in plan '{self.plan.name}'", node=node_id,
                             expected=f"one of {known}", found=repr(node_id), fix="use an id printed by print(compiled)")
        return node

    # --- saving, loading, comparing ----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return plan_to_json(self.plan)

    def save(self, path: str | Path) -> None:
        """Write the plan as JSON (no pickle; step functions by import path)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path, lms: dict[str, Any] | None = None) -> CompiledPipeline:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise PlanLoadError(f"cannot read the plan {path}", found=f"{type(exc).__name__}: {exc}",
                                fix="pass the path of a file written by CompiledPipeline.save") from None
        return cls.from_json(data, lms, origin=str(path))

    @classmethod
    def from_json(cls, data: dict[str, Any], lms: dict[str, Any] | None = None, origin: str = "the plan") -> CompiledPipeline:
        plan = plan_from_json(data, origin)
        _warn_changed_steps(plan, data)
        return cls(run_passes(plan), lms)

    def diff(self, other: CompiledPipeline) -> str:
        """What changes from this pipeline to ``other``: nodes, prompts, demos, types, steps."""
        return diff_plans(self.plan, other.plan)

    def __repr__(self) -> str:
        return format_plan(self.plan)

    def graph(self) -> Any:
        """The plan drawn as SVG (shows itself in Jupyter; ``.save("plan.svg")``)."""
        return Graph(plan_svg(self.plan))

    def _repr_html_(self) -> str:
        """Jupyter's display: the DAG, each node's prompt state, and the text form."""
        return pipeline_html(self.plan)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledPipeline) and self.to_json()["nodes"] == other.to_json()["nodes"]


def _warn_changed_steps(plan: Plan, data: dict[str, Any]) -> None:
    """A node whose version the current code or data decides (a step's source, a corpus) and that
    differs from the saved one: its results will recompute."""
    saved = {n["id"]: (n.get("params") or {}).get("version") for n in data.get("nodes", [])}
    for node in plan.nodes:
        version = rule_for(node.op).version(node.params)
        if version is not None and saved.get(node.id) != version:
            warnings.warn(f"node '{node.id}' ({rule_for(node.op).call(node)}) changed since the plan "
                          "was saved; its nodes will recompute with the current code", stacklevel=3)


def _run_eagerly(module: Module, inputs: dict[str, Any]) -> Any:
    """A module called outside a trace: a one-node (or one-module) pipeline, run without a store."""
    return compile(module)(**inputs)


install_runner(_run_eagerly)  # the pipeline layer holds the slot: it cannot import the compiler above it

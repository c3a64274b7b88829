"""The two sides of ``bench_optimizers.py``: a task's plait program and its DSPy twin
(``optimizer_tasks.py``), each with a way to optimize it and to score it, on the one embedded model
(or the fakes of ``--smoke``), with LM calls counted at the engine.

DSPy drives SmolLM2-135M through :class:`plait.lm.dspy_local.DSPyLocalLM` with its JSONAdapter
(constrained to the signature's JSON schema, as plait's compact adapter is); plait drives it through
:class:`plait.LocalLM` wrapped in :class:`CountingLM`. Both count every generation, nothing is cached
by DSPy, and every plait arm gets a fresh store, so the counts are the calls each optimizer needs.
"""

from __future__ import annotations

import inspect
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import dspy
import numpy as np

import plait
from optimizer_tasks import Task
from plait.ir.nodes import Op
from plait.lm.dspy_local import DSPyLocalLM
from plait.optimizers.evaluate import bootstrap_interval

# DSPy 3.4 deprecates BaseLM.forward subclasses (for 3.5); the engine works and the warning is noise.
warnings.filterwarnings("ignore", message="Implementing custom LMs through BaseLM.forward", category=DeprecationWarning)


@dataclass
class Row:
    """One optimizer's result: held-out score and interval, LM calls and seconds per phase."""

    framework: str
    optimizer: str
    score: float
    low: float
    high: float
    compile_calls: int
    eval_calls: int
    compile_seconds: float
    eval_seconds: float
    failed: int = 0
    note: str = ""
    task: str = "people"


class CountingLM:
    """Any plait LM, with every call counted (the LM's identity is unchanged, so are checkpoints)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.calls = inner, inner.name, 0
        self.max_concurrency = getattr(inner, "max_concurrency", 1024)
        self.adapter = getattr(inner, "adapter", "chat")

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    async def acall(self, request: plait.LMRequest) -> plait.LMResponse:
        self.calls += 1  # one event loop: no lock needed
        return await self.inner.acall(request)


# --- DSPy ---------------------------------------------------------------------------------------
class DSPySide:
    """Compile and score DSPy programs on one LM; ``lm.counter`` counts the calls."""

    framework = "DSPy"

    def __init__(self, task: Task, threads: int, lm_threads: int | None = None, local: Any = None) -> None:
        self.task, self.threads = task, threads
        self.lm = DSPyLocalLM(local or plait.LocalLM(n_threads=lm_threads))
        dspy.configure(lm=self.lm, adapter=dspy.JSONAdapter())
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)

    def measure(self, name: str, optimize: Callable[[], Any], testset: list[dict]) -> Row:
        program, compile_calls, compile_seconds = self._counted(optimize)
        (scores, failed), eval_calls, eval_seconds = self._counted(lambda: self.score(program, testset))
        low, high = bootstrap_interval(np.array(scores, dtype=float))
        return Row(self.framework, name, float(np.mean(scores)), low, high, compile_calls, eval_calls,
                   compile_seconds, eval_seconds, failed, task=self.task.name)

    def score(self, program: Any, items: list[dict]) -> tuple[list[float], int]:
        """Per-item scores (a failed item scores 0, as in plait.evaluate) and the failure count."""
        evaluate = dspy.Evaluate(devset=self.task.dspy_examples(items), metric=self.task.metric,
                                 num_threads=self.threads, display_progress=False, max_errors=len(items) + 1,
                                 provide_traceback=False)
        results = evaluate(program).results
        failed = sum(1 for _, prediction, _ in results if not getattr(prediction, self.task.label, None))
        return [float(score) for _, _, score in results], failed

    def _counted(self, work: Callable[[], Any]) -> tuple[Any, int, float]:
        before, started = self.lm.counter.calls, time.perf_counter()
        result = work()
        return result, self.lm.counter.calls - before, time.perf_counter() - started


# --- plait ----------------------------------------------------------------------------------------
class PlaitSide:
    """Compile and score plait pipelines on one LM, each optimizer in a fresh store (unless told to
    reuse one: ``store=`` names an earlier row's, to extend its search)."""

    framework = "plait"

    def __init__(self, task: Task, folder: Path, concurrency: int, lm_threads: int | None = None,
                 lm: Any = None) -> None:
        self.task, self.folder = task, folder
        self.lm = CountingLM(lm or plait.LocalLM(n_threads=lm_threads))
        self.concurrency = concurrency
        plait.configure(lm=self.lm)

    def options(self, store: Path) -> dict[str, Any]:
        return {"store": str(store), "progress": False, "concurrency": self.concurrency, "parse_retries": 1}

    def measure(self, name: str, optimizer: Any, split: dict[str, list[dict]], store: str | None = None) -> Row:
        path = self.folder / f"{self.task.name}-{store or name}.db"
        compiled, compile_calls, compile_seconds = self._counted(lambda: self._compile(optimizer, split, path))
        evaluation, eval_calls, eval_seconds = self._counted(
            lambda: plait.evaluate(compiled, split["test"], self.task.metric, **self.options(path)))
        trials = next((n.params.provenance.get("trials") for n in compiled.plan.of_op(Op.PREDICT)), None)
        return Row(self.framework, name, evaluation.score, evaluation.low, evaluation.high, compile_calls,
                   eval_calls, compile_seconds, eval_seconds, len(evaluation.failed),
                   note=f"{trials} trials" if trials else "", task=self.task.name)

    def _compile(self, optimizer: Any, split: dict[str, list[dict]], store: Path) -> Any:
        if optimizer is None:
            return plait.compile(self.task.plait_program())
        # BootstrapFewShot has no validation set; the searching optimizers score candidates on one.
        wants_valset = "valset" in inspect.signature(optimizer.compile).parameters
        valset = {"valset": split["val"]} if wants_valset else {}
        return plait.compile(self.task.plait_program(), optimizer=optimizer, trainset=split["train"],
                             metric=self.task.metric, **valset, **self.options(store))

    def _counted(self, work: Callable[[], Any]) -> tuple[Any, int, float]:
        before, started = self.lm.calls, time.perf_counter()
        result = work()
        return result, self.lm.calls - before, time.perf_counter() - started

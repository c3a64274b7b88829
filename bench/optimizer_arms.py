"""The two sides of ``bench_optimizers.py``: plait's demo pipeline and its DSPy twin, each with a
way to optimize it and to score it, on the one embedded model, with LM calls counted at the engine.

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
from plait.demo.pipeline import Answer, FindFact, FindPerson, PeopleQA, exact_match
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


# --- DSPy -----------------------------------------------------------------------------------------
class DSPyPeopleQA(dspy.Module):
    """PeopleQA written for DSPy: the same three signatures (plait's are DSPy signatures), the same
    instructions and the same token limits per node."""

    def __init__(self) -> None:
        super().__init__()
        self.find_person = dspy.Predict(FindPerson, max_tokens=16)
        self.find_fact = dspy.Predict(FindFact, max_tokens=40)
        self.answer = dspy.Predict(Answer, max_tokens=16)

    def forward(self, context: str, question: str) -> dspy.Prediction:
        person = self.find_person(question=question).person
        fact = self.find_fact(context=context, person=person).fact
        return self.answer(question=question, fact=fact)


def dspy_metric(example: dspy.Example, prediction: Any, trace: Any = None) -> bool:
    return exact_match(example, prediction)


def dspy_examples(items: list[dict]) -> list[dspy.Example]:
    return [dspy.Example(**item).with_inputs("context", "question") for item in items]


class DSPySide:
    """Compile and score DSPy programs on the embedded model; ``lm.counter`` counts the calls."""

    framework = "DSPy"

    def __init__(self, threads: int, lm_threads: int | None = None) -> None:
        self.lm, self.threads = DSPyLocalLM(plait.LocalLM(n_threads=lm_threads)), threads
        dspy.configure(lm=self.lm, adapter=dspy.JSONAdapter())
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)

    def measure(self, name: str, optimize: Callable[[], Any], testset: list[dict]) -> Row:
        program, compile_calls, compile_seconds = self._counted(optimize)
        (scores, failed), eval_calls, eval_seconds = self._counted(lambda: self.score(program, testset))
        low, high = bootstrap_interval(np.array(scores, dtype=float))
        return Row(self.framework, name, float(np.mean(scores)), low, high, compile_calls, eval_calls,
                   compile_seconds, eval_seconds, failed)

    def score(self, program: Any, items: list[dict]) -> tuple[list[float], int]:
        """Per-item scores (a failed item scores 0, as in plait.evaluate) and the failure count."""
        evaluate = dspy.Evaluate(devset=dspy_examples(items), metric=dspy_metric, num_threads=self.threads,
                                 display_progress=False, max_errors=len(items) + 1, provide_traceback=False)
        results = evaluate(program).results
        failed = sum(1 for _, prediction, _ in results if not getattr(prediction, "answer", None))
        return [float(score) for _, _, score in results], failed

    def _counted(self, work: Callable[[], Any]) -> tuple[Any, int, float]:
        before, started = self.lm.counter.calls, time.perf_counter()
        result = work()
        return result, self.lm.counter.calls - before, time.perf_counter() - started


# --- plait ----------------------------------------------------------------------------------------
class PlaitSide:
    """Compile and score plait pipelines on the embedded model, each optimizer in a fresh store."""

    framework = "plait"

    def __init__(self, folder: Path, concurrency: int, lm_threads: int | None = None) -> None:
        self.lm, self.folder = CountingLM(plait.LocalLM(n_threads=lm_threads)), folder
        self.concurrency = concurrency
        plait.configure(lm=self.lm)

    def options(self, store: Path) -> dict[str, Any]:
        return {"store": str(store), "progress": False, "concurrency": self.concurrency, "parse_retries": 1}

    def measure(self, name: str, optimizer: Any, split: dict[str, list[dict]]) -> Row:
        store = self.folder / f"{name}.db"
        compiled, compile_calls, compile_seconds = self._counted(lambda: self._compile(optimizer, split, store))
        evaluation, eval_calls, eval_seconds = self._counted(
            lambda: plait.evaluate(compiled, split["test"], exact_match, **self.options(store)))
        return Row(self.framework, name, evaluation.score, evaluation.low, evaluation.high, compile_calls,
                   eval_calls, compile_seconds, eval_seconds, len(evaluation.failed))

    def _compile(self, optimizer: Any, split: dict[str, list[dict]], store: Path) -> Any:
        if optimizer is None:
            return plait.compile(PeopleQA())
        # BootstrapFewShot has no validation set; the searching optimizers score candidates on one.
        wants_valset = "valset" in inspect.signature(optimizer.compile).parameters
        valset = {"valset": split["val"]} if wants_valset else {}
        return plait.compile(PeopleQA(), optimizer=optimizer, trainset=split["train"], metric=exact_match,
                             **valset, **self.options(store))

    def _counted(self, work: Callable[[], Any]) -> tuple[Any, int, float]:
        before, started = self.lm.calls, time.perf_counter()
        result = work()
        return result, self.lm.calls - before, time.perf_counter() - started

"""The main job: evaluate, compile with BootstrapFewShot, evaluate again, on the embedded model.

Every phase is an ordinary checkpointed run in one store, named after its phase: an interrupted
job picks up where it stopped, and a finished one replays its own runs in seconds with no LM call
(running it again adds no run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import plait
from plait.api.results import RunStats
from plait.demo.data import load
from plait.demo.pipeline import PeopleQA, exact_match


@dataclass
class JobResult:
    before: plait.Evaluation
    after: plait.Evaluation
    compiled: plait.CompiledPipeline
    base: plait.CompiledPipeline
    phases: dict[str, float] = field(default_factory=dict)
    tally: RunStats = field(default_factory=RunStats)  # every run of the job, summed

    @property
    def separated(self) -> bool:
        """The compiled score is above the uncompiled one and the intervals do not overlap."""
        return self.after.score > self.before.score and not self.after.overlaps(self.before)


def run_job(store: str | Path, *, train: int = 40, dev: int = 60, demos: int = 4, teacher_demos: int = 3,
            progress: bool = True, say: Callable[[str], None] = print) -> JobResult:
    """Run the three phases; ``train``/``dev`` pick the first and the last items of the dataset."""
    data = load()
    trainset, devset = data[:train], data[len(data) - dev:]
    phases: dict[str, float] = {}
    tally = RunStats()
    options: dict[str, Any] = {"store": str(store), "progress": progress, "on_event": tally, "parse_retries": 1}

    started = time.perf_counter()
    # As many calls may be in flight to the model as items (the run's concurrency, 32): one llama.cpp
    # instance per core decodes them side by side, and its queue gives a freed instance the call that
    # shares the longest prompt prefix with its last, so one node's calls reuse its KV cache.
    plait.configure(lm=plait.LocalLM(max_concurrency=32))
    base = plait.compile(PeopleQA())
    phases["load"] = _since(started)

    say(f"[1/3] evaluate the uncompiled pipeline on {len(devset)} held-out items")
    before = _timed(phases, "evaluate (uncompiled)", lambda: plait.evaluate(
        base, devset, exact_match, name="demo: evaluate uncompiled", **options))
    say(f"      {before}")

    say(f"[2/3] compile with BootstrapFewShot on {len(trainset)} training items")
    # DSPy's semantics: labeled demos fill each node up to `demos` in all, after the bootstrapped ones
    optimizer = plait.BootstrapFewShot(max_bootstrapped_demos=demos, max_labeled_demos=demos,
                                       teacher_demos=teacher_demos)
    compiled = _timed(phases, "compile", lambda: optimizer.compile(  # what plait.compile(optimizer=...) does
        base, trainset=trainset, metric=exact_match, name="demo: teacher", **options))
    say("      " + ", ".join(f"{n.id}: {len(n.params.demos)} demos" for n in compiled.plan.nodes if n.params
                            and hasattr(n.params, "demos")))

    say(f"[3/3] evaluate the compiled pipeline on the same {len(devset)} held-out items")
    after = _timed(phases, "evaluate (compiled)", lambda: plait.evaluate(
        compiled, devset, exact_match, name="demo: evaluate compiled", **options))
    say(f"      {after}")
    return JobResult(before, after, compiled, base, phases, tally)


def _timed(phases: dict[str, float], name: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    phases[name] = _since(started)
    return result


def _since(started: float) -> float:
    return time.perf_counter() - started

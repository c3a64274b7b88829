"""RandomSearch: DSPy's BootstrapFewShotWithRandomSearch as a compile pass.

Candidates, in a fixed order: zero-shot, labeled-only, bootstrapped, then ``num_candidates``
bootstrapped sets, each from its own seeded teacher pass over the trainset shuffled by its seed,
sized at random and filled up with labeled demos (``plait.optimizers.demo_sets``). Each is scored
on the valset by an ordinary checkpointed evaluation; the best is kept (ties go to the earlier,
simpler candidate). Candidate ``i`` depends only on the seed and ``i``: rerun with more
``num_candidates`` on the same store, a finished search is extended paying only for the new ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from plait.ir.nodes import Op
from plait.optimizers.demo_sets import Candidate, DemoSpace
from plait.optimizers.trials import Search, check_setup
from plait.runtime.items import item_fields


@dataclass
class RandomSearch:
    """Search over demo sets, scored on a validation set (DSPy's BootstrapFewShotWithRandomSearch).

    ``max_lm_calls`` (LM calls, counted by content key) and ``max_trials`` bound the search. The call
    budget is hard: every run of the search (teacher, evaluation) runs under a ``plait.Budget`` of the
    calls left, and a candidate whose evaluation it cuts short is not chosen (its stopped items score 0).

    Example::

        compiled = plait.compile(QA(), optimizer=plait.RandomSearch(num_candidates=6, seed=0),
                                 trainset=train, valset=val, metric=exact_match, store="runs.db")
        print(compiled)        # demos: 3 (from RandomSearch); chosen by RandomSearch: shuffled #2 ...
    """

    num_candidates: int = 8
    max_bootstrapped_demos: int = 4
    max_labeled_demos: int = 16  # the total labeled demos fill up to, after the bootstrapped ones (DSPy's)
    teacher_demos: int | None = None  # labeled demos the teacher shows (None: as BootstrapFewShot)
    metric_threshold: float | None = None
    max_lm_calls: int | None = None
    max_trials: int | None = None
    seed: int = 0

    def compile(self, compiled: Any, *, trainset: list[Any], metric: Callable[..., Any] | None = None,
                valset: list[Any] | None = None, store: Any = None, **run_options: Any) -> Any:
        check_setup("RandomSearch", trainset=trainset, valset=valset, metric=metric,
                    budgets={"max_lm_calls": self.max_lm_calls, "max_trials": self.max_trials})
        valset = list(valset if valset is not None else trainset)
        with Search("RandomSearch", metric=metric, store=store, run_options=run_options,
                    identity=search_identity(self, compiled, trainset, valset), lm_nodes=lm_node_ids(compiled),
                    max_lm_calls=self.max_lm_calls, max_trials=self.max_trials,
                    planned=self.num_candidates + 2 + bool(self.max_labeled_demos)) as search:
            for label, make in self.candidates(compiled, list(trainset), metric, search):
                if search.exhausted():
                    break
                candidate = make()  # may bootstrap: its teacher's calls count, and may reach the budget
                if search.exhausted():
                    break
                search.trial(label, candidate, valset)
            chosen = search.best
            search.finish(chosen)
            return search.annotate(chosen.candidate, chosen, valset=len(valset), seed=self.seed)

    def candidates(self, compiled: Any, trainset: list[Any], metric: Callable, search: Search) -> Iterator[Candidate]:
        """(label, build) pairs, DSPy's space (see ``plait.optimizers.demo_sets``)."""
        space = DemoSpace(self.max_bootstrapped_demos, self.max_labeled_demos, self.teacher_demos,
                          self.metric_threshold, self.seed)
        return space.candidates(compiled, trainset, metric, search, self.num_candidates)


def lm_node_ids(compiled: Any) -> set[str]:
    return {n.id for n in compiled.plan.of_op(Op.PREDICT)}


def search_identity(optimizer: Any, compiled: Any, trainset: list[Any], valset: list[Any]) -> dict[str, Any]:
    """What makes two optimizations the same one: the optimizer's settings, the plan, the data."""
    return {"optimizer": type(optimizer).__name__, "settings": _settings(optimizer),
            "plan": [n.fingerprint for n in compiled.plan.nodes],
            "trainset": [_fields(x) for x in trainset], "valset": [_fields(x) for x in valset]}


def _settings(optimizer: Any) -> dict[str, Any]:
    """The optimizer's fields; an LM by its identity (its repr would hold a memory address)."""
    return {f.name: _identity(getattr(optimizer, f.name)) for f in dataclasses.fields(optimizer)}


def _identity(value: Any) -> Any:
    return value.identity() if hasattr(value, "identity") else value


def _fields(item: Any) -> Any:
    try:
        return item_fields(item)
    except TypeError:
        return repr(item)

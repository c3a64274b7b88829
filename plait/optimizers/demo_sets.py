"""The demo-set candidates that RandomSearch and MIPRO search over, as DSPy builds them.

In order: zero-shot, labeled only, bootstrapped from the trainset in order, then one candidate per
seed, bootstrapped by its own teacher pass over the trainset shuffled by that seed, with a random
number of bootstrapped demos (1 to the maximum) and a labeled fill-up drawn by that seed.
Candidates differ in seed, order, fill-up and size; each teacher pass stops as soon as it has its
demos. All passes share one teacher (its labeled demos drawn by the search's seed, never the item
it answers), and every teacher wave is an ordinary run charged to the search: a pass that asks a
question an earlier pass asked gets the answer from the store at no LM cost. Candidate ``i``
depends only on ``(seed, i)``: a search extended by more candidates replays the first ones free.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from plait.ir.nodes import Op
from plait.optimizers.fewshot import BootstrapFewShot, LabeledFewShot

Candidate = tuple[str, Callable[[], Any]]  # (label, build): build runs what the candidate needs, once asked


@dataclass(frozen=True)
class DemoSpace:
    """The settings shared by RandomSearch and MIPRO's demo sets."""

    max_bootstrapped_demos: int
    max_labeled_demos: int
    teacher_demos: int | None
    metric_threshold: float | None
    seed: int

    def candidates(self, compiled: Any, trainset: list[Any], metric: Callable, search: Any,
                   shuffled: int) -> Iterator[Candidate]:
        """zero-shot, labeled only (if any), bootstrapped, then ``shuffled`` seeded candidates."""
        yield "zero-shot", lambda: without_demos(compiled)
        if self.max_labeled_demos:
            yield (f"labeled ({self.max_labeled_demos})",
                   lambda: LabeledFewShot(self.max_labeled_demos, self.seed).compile(compiled, trainset=trainset))
        most = self.max_bootstrapped_demos
        yield f"bootstrapped ({most})", lambda: self.bootstrapped(compiled, trainset, metric, search, most, self.seed)
        for i in range(shuffled):
            size = random.Random(f"{self.seed}/size/{i}").randint(1, max(1, most))
            seed = self.seed + i + 1
            order = random.Random(seed).sample(trainset, len(trainset))
            yield (f"shuffled #{i + 1} ({size})", lambda size=size, seed=seed, order=order:
                   self.bootstrapped(compiled, order, metric, search, size, seed))

    def bootstrapped(self, compiled: Any, trainset: list[Any], metric: Callable, search: Any, size: int,
                     seed: int) -> Any:
        # one teacher for every candidate (its demos drawn by the search's seed): a candidate's pass differs
        # by its order, size and fill-up, and asks the teacher what an earlier pass asked at no LM cost
        boot = BootstrapFewShot(size, self.max_labeled_demos, self.metric_threshold, self.teacher_demos, seed,
                                teacher_seed=self.seed)
        found = boot.bootstrap(compiled, trainset, metric, lambda p, items, ids: search.run(p, items, ids=ids),
                               search.store)
        return boot.write_demos(compiled, trainset, found)


def without_demos(compiled: Any) -> Any:
    for node in compiled.plan.of_op(Op.PREDICT):
        if node.params.demos:
            compiled = compiled.update(node.id, demos=[])
    return compiled

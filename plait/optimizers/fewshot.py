"""Few-shot optimizers as compile passes: LabeledFewShot and BootstrapFewShot.

Both write each PREDICT node's demos into the plan and record, in the node's provenance, which
optimizer chose them and the numbers that justified it, so ``print`` and ``diff`` show them.
BootstrapFewShot runs the program on the trainset *through the executor*: its runs are ordinary
checkpointed runs, so an interrupted compile resumes and a repeated one costs no LM call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from plait.errors import OptimizerError
from plait.ir.nodes import Op, PredictParams
from plait.optimizers.evaluate import _caller, _item_score
from plait.runtime.items import item_fields
from plait.runtime.traces import item_traces


def labeled_demos(params: PredictParams, trainset: list[Any], k: int, rng: random.Random) -> list[dict]:
    """Up to ``k`` trainset examples restricted to the node's fields; each needs all its inputs
    and at least one output (intermediate nodes rarely have labels: they get none)."""
    sig = params.signature
    demos = []
    for ex in rng.sample(list(trainset), len(trainset)):
        data = item_fields(ex)
        if all(n in data for n in sig.input_fields) and any(n in data for n in sig.output_fields):
            demos.append({n: data[n] for n in (*sig.input_fields, *sig.output_fields) if n in data})
        if len(demos) == k:
            break
    return demos


@dataclass
class LabeledFewShot:
    """Demos straight from labeled examples (no LM call).

    Example::

        compiled = plait.compile(QA(), optimizer=plait.LabeledFewShot(k=4), trainset=train)
    """

    k: int = 4
    seed: int = 0

    def compile(self, compiled: Any, *, trainset: list[Any], metric: Any = None, valset: Any = None, **_: Any) -> Any:
        rng = random.Random(self.seed)
        for node in compiled.plan.of_op(Op.PREDICT):
            demos = labeled_demos(node.params, trainset, self.k, rng)
            if demos:
                compiled = compiled.update(node.id, demos=demos, provenance={
                    "optimizer": "LabeledFewShot", "k": self.k, "seed": self.seed, "trainset": len(trainset)})
        return compiled


@dataclass
class BootstrapFewShot:
    """Demos from the program's own successful runs on the trainset.

    Runs the (teacher) program on the trainset through the executor, keeps the items whose final
    output passes ``metric``, and turns each node's recorded inputs and outputs in those traces
    into that node's demos: up to ``max_bootstrapped_demos`` per node, topped up with up to
    ``max_labeled_demos`` labeled examples where the node's fields are labeled.

    Example::

        compiled = plait.compile(Pipeline(), optimizer=plait.BootstrapFewShot(max_bootstrapped_demos=4),
                                 trainset=train, metric=exact_match, store="runs.db")
    """

    max_bootstrapped_demos: int = 4
    max_labeled_demos: int = 0
    metric_threshold: float | None = None
    teacher_demos: int = 0  # labeled demos given to the teacher run, to bootstrap from a better start
    seed: int = 0

    def compile(self, compiled: Any, *, trainset: list[Any], metric: Callable[..., Any], store: Any = None,
                valset: Any = None, **run_options: Any) -> Any:
        if metric is None:
            raise OptimizerError("BootstrapFewShot needs a metric to keep only the traces that pass",
                                 expected="metric=a function (example, prediction) -> bool or float",
                                 found="metric=None", fix="compile(..., metric=lambda ex, pred: ...)")
        run_options = {"label": "BootstrapFewShot", **run_options}
        run = self.teacher(compiled, trainset).run(trainset, store=store, **run_options)
        passed, traces = self.passing_traces(compiled, trainset, metric, run, store)
        return self.write_demos(compiled, trainset, passed, traces)

    def teacher(self, compiled: Any, trainset: list[Any]) -> Any:
        """The program that runs the trainset: the student, with ``teacher_demos`` labeled demos."""
        if not self.teacher_demos:
            return compiled
        return LabeledFewShot(self.teacher_demos, self.seed).compile(compiled, trainset=trainset)

    def passing_traces(self, compiled: Any, trainset: list[Any], metric: Callable, run: Any,
                       store: Any) -> tuple[list[str], dict]:
        """(ids of the items of ``run`` that pass ``metric``, their per-node traces)."""
        passed = self._passing_items(metric, trainset, run)
        return passed, (item_traces(run.id, self.teacher(compiled, trainset).plan, store) if passed else {})

    def _passing_items(self, metric: Callable, trainset: list[Any], run: Any) -> list[str]:
        score_of = _caller(metric)
        scores = [_item_score(score_of, example, result) for example, result in zip(trainset, run.items)]
        threshold = self.metric_threshold
        return [s.item_id for s in scores if s.error is None
                and (s.score >= threshold if threshold is not None else bool(s.score))]

    def write_demos(self, compiled: Any, trainset: list[Any], passed: list[str], traces: dict) -> Any:
        """Each node's demos from the passing traces, in an order shuffled by ``seed``."""
        rng = random.Random(self.seed)
        order = rng.sample(passed, len(passed))
        for node in compiled.plan.of_op(Op.PREDICT):
            demos = [{**traces[i][node.id].inputs, **traces[i][node.id].outputs}
                     for i in order if node.id in traces.get(i, {})][: self.max_bootstrapped_demos]
            if self.max_labeled_demos:
                demos += labeled_demos(node.params, trainset, self.max_labeled_demos, rng)
            compiled = compiled.update(node.id, demos=demos, provenance={
                "optimizer": "BootstrapFewShot", "trainset": len(trainset), "passed": len(passed),
                "bootstrapped": min(len(order), self.max_bootstrapped_demos), "seed": self.seed})
        return compiled

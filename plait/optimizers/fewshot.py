"""Few-shot optimizers as compile passes: LabeledFewShot and BootstrapFewShot, with DSPy's semantics.

Both write each PREDICT node's demos into the plan and record, in the node's provenance, which
optimizer chose them and the numbers that justified it, so ``print`` and ``diff`` show them.
BootstrapFewShot runs the program on the trainset *through the executor*: its runs are ordinary
checkpointed runs, so an interrupted compile resumes and a repeated one costs no LM call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from plait.errors import OptimizerError
from plait.hashing import stable_hash
from plait.ir.nodes import Op, PredictParams
from plait.optimizers.evaluate import _caller, _item_score
from plait.optimizers.label_balance import balanced, label_fields
from plait.runtime.items import item_fields
from plait.runtime.traces import NodeTrace, item_traces

RunWave = Callable[[Any, list[Any], list[str]], Any]  # (program, items, ids) -> Run


def labeled_demos(params: PredictParams, examples: Sequence[Any], k: int) -> list[dict]:
    """The first ``k`` of ``examples`` (in the order given) that label the node, as its demos; where
    the node's output is a set of labels, the ``k`` cover and alternate them (label_balance.py)."""
    pool = labeled_examples(params, examples)
    return balanced(pool[:k], pool[k:], label_fields(params.signature))


def labeled_examples(params: PredictParams, examples: Sequence[Any]) -> list[dict]:
    """``examples`` restricted to the node's fields; each needs all its inputs and at least one
    output (intermediate nodes rarely have labels: they get none)."""
    sig, demos = params.signature, []
    for ex in examples:
        data = item_fields(ex)
        if all(n in data for n in sig.input_fields) and any(n in data for n in sig.output_fields):
            demos.append({n: data[n] for n in (*sig.input_fields, *sig.output_fields) if n in data})
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
            demos = labeled_demos(node.params, rng.sample(list(trainset), len(trainset)), self.k)
            if demos:
                compiled = compiled.update(node.id, demos=demos, provenance={
                    "optimizer": "LabeledFewShot", "k": self.k, "seed": self.seed, "trainset": len(trainset)})
        return compiled


@dataclass
class Bootstrapped:
    """What a teacher pass found: trainset positions that passed (in order), their traces, items tried."""

    passed: list[int] = field(default_factory=list)
    traces: dict[int, dict[str, NodeTrace]] = field(default_factory=dict)
    tried: int = 0


@dataclass
class BootstrapFewShot:
    """Demos from the program's own successful runs on the trainset, as DSPy's BootstrapFewShot.

    The teacher (the program, with ``teacher_demos`` labeled demos: by default DSPy's teacher,
    ``max_labeled_demos`` of them, at a node with a free-text output, and none at a node whose outputs
    are all labels, whose type names the choices and whose labeled demos would bias the small model
    toward their labels: label_balance.py) runs the trainset *in order*,
    in small waves, and stops as soon as ``max_bootstrapped_demos`` items pass ``metric``: a wave
    holds only as many items as traces are still missing, so no item runs after the last one
    needed. The teacher never sees the item it is answering among its demos. Each node gets the
    passing traces' inputs and outputs as demos, then labeled examples (from the items not
    bootstrapped) fill its demos up to ``max_labeled_demos`` in total, where the node's fields are
    labeled: ``max_labeled_demos`` is a total, as in DSPy (default 16), not an extra count.

    Example::

        compiled = plait.compile(Pipeline(), optimizer=plait.BootstrapFewShot(max_bootstrapped_demos=4),
                                 trainset=train, metric=exact_match, store="runs.db")
    """

    max_bootstrapped_demos: int = 4
    max_labeled_demos: int = 16
    metric_threshold: float | None = None
    teacher_demos: int | None = None  # labeled demos given to the teacher (None: per node, as above)
    seed: int = 0
    teacher_seed: int | None = None  # which labeled demos the teacher gets (None: ``seed``'s)

    def compile(self, compiled: Any, *, trainset: list[Any], metric: Callable[..., Any], store: Any = None,
                valset: Any = None, **run_options: Any) -> Any:
        if metric is None:
            raise OptimizerError("BootstrapFewShot needs a metric to keep only the traces that pass",
                                 expected="metric=a function (example, prediction) -> bool or float",
                                 found="metric=None", fix="compile(..., metric=lambda ex, pred: ...)")
        options = {"label": "BootstrapFewShot", **run_options}

        def run(program: Any, items: list[Any], ids: list[str]) -> Any:
            return program.run(items, store=store, ids=ids, **options)

        trainset = list(trainset)
        return self.write_demos(compiled, trainset, self.bootstrap(compiled, trainset, metric, run, store))

    def bootstrap(self, compiled: Any, trainset: list[Any], metric: Callable, run: RunWave, store: Any) -> Bootstrapped:
        """Run the teacher over ``trainset`` in order, wave by wave, until enough items pass."""
        score_of, found, start = _caller(metric), Bootstrapped(), 0
        while len(found.passed) < self.max_bootstrapped_demos and start < len(trainset):
            wave = range(start, min(len(trainset), start + self.max_bootstrapped_demos - len(found.passed)))
            start, teacher = wave.stop, self.teacher(compiled, trainset, exclude=wave)
            result = run(teacher, [trainset[i] for i in wave], [str(i) for i in wave])
            found.tried += len(wave)
            passing = [i for i, item in zip(wave, result.items) if self._passes(score_of, trainset[i], item)]
            if passing:
                traces = item_traces(result.id, teacher.plan, store)
                found.passed += passing
                found.traces.update({i: traces.get(str(i), {}) for i in passing})
        return found

    def teacher(self, compiled: Any, trainset: list[Any], exclude: Sequence[int] = ()) -> Any:
        """The program that answers the items at positions ``exclude``: the student with the labeled
        demos ``demos_of_teacher`` counts, none of which is one of those items (nor any demo it had).
        The demos depend on the trainset's items, not their order, so teachers of candidates that
        shuffle the trainset differently ask the same questions the same way (the cache answers)."""
        hidden = [item_fields(trainset[i]) for i in exclude]
        seed = self.seed if self.teacher_seed is None else self.teacher_seed
        ranked = sorted(trainset, key=lambda x: stable_hash(item_fields(x)))
        pool = [x for x in random.Random(seed).sample(ranked, len(ranked)) if item_fields(x) not in hidden]
        for node in compiled.plan.of_op(Op.PREDICT):
            k = self.demos_of_teacher(node.params)
            demos = labeled_demos(node.params, pool, k) if k else node.params.demos
            outputs = node.params.signature.output_fields
            kept = [d for d in demos if not any(_same_example(d, item, outputs) for item in hidden)]
            if kept != list(node.params.demos):
                compiled = compiled.update(node.id, demos=kept)
        return compiled

    def demos_of_teacher(self, params: PredictParams) -> int:
        """How many labeled demos the teacher shows at a node: ``teacher_demos`` if set; by default
        none where every output is a label, and ``max_labeled_demos`` (DSPy's teacher) elsewhere."""
        if self.teacher_demos is not None:
            return self.teacher_demos
        outputs = params.signature.output_fields
        return 0 if len(label_fields(params.signature)) == len(outputs) else self.max_labeled_demos

    def _passes(self, score_of: Callable, example: Any, result: Any) -> bool:
        scored = _item_score(score_of, example, result)
        if scored.error is not None:
            return False
        return scored.score >= self.metric_threshold if self.metric_threshold is not None else bool(scored.score)

    def write_demos(self, compiled: Any, trainset: list[Any], found: Bootstrapped) -> Any:
        """Each node's demos: its passing traces in the order they passed, then labeled examples
        (from the items not bootstrapped, shuffled by ``seed``) up to ``max_labeled_demos`` in all;
        where the node's output is a set of labels, they cover and alternate them (label_balance.py)."""
        rng = random.Random(self.seed)
        rest = [x for i, x in enumerate(trainset) if i not in set(found.passed)]
        for node in compiled.plan.of_op(Op.PREDICT):
            boot = [{**found.traces[i][node.id].inputs, **found.traces[i][node.id].outputs}
                    for i in found.passed if node.id in found.traces.get(i, {})][: self.max_bootstrapped_demos]
            room, labels = max(0, self.max_labeled_demos - len(boot)), label_fields(node.params.signature)
            pool = labeled_examples(node.params, rng.sample(rest, len(rest))) if room or labels else []
            demos = balanced(boot + pool[:room], pool[room:], labels)
            kept = sum(demo in boot for demo in demos)
            compiled = compiled.update(node.id, demos=demos, provenance={
                "optimizer": "BootstrapFewShot", "trainset": len(trainset), "tried": found.tried,
                "passed": len(found.passed), "bootstrapped": kept, "labeled": len(demos) - kept, "seed": self.seed})
        return compiled


def _same_example(demo: dict[str, Any], item: dict[str, Any], outputs: Sequence[str]) -> bool:
    """Whether ``demo`` shows ``item``'s answer: they agree on every field they share, and these
    include an output of the node (a shared context alone does not make two items the same)."""
    shared = [k for k in demo if k in item]
    return any(k in outputs for k in shared) and all(demo[k] == item[k] for k in shared)

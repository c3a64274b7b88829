"""GEPA: reflective instruction evolution with a Pareto set of candidates, in the manner of GEPA.

Each step picks a parent from the Pareto set (the candidates that are best on at least one
valset item, drawn in proportion to how many items they lead), picks the parent's next node (a
candidate's nodes are rewritten in turn), runs the parent on a minibatch of the trainset, and
shows a ``prompt_lm`` the node's inputs, outputs and the metric's feedback on each item
(``plait.Score(0.0, feedback=...)``, or the error of a failed item). The LM rewrites that node's
instruction. The child is kept, and scored on the whole valset, only if it beats its parent on
the same minibatch. After a step that kept a child (up to ``max_merges`` times), the next step
tries a merge of two Pareto candidates from different lines (``plait.optimizers.gepa_merge``):
scored on the valset items where they differ, which the full evaluation that follows reuses
from the store.

Durable by replay: every evaluation and every reflection is a checkpointed run, and each step's
choices come from a generator seeded by the step's number, so a rerun after a kill (or a repeat)
walks the same steps from the store at no LM cost until it reaches the unfinished one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Callable

from plait.api.compiled import compile as compile_program
from plait.ir.nodes import Op
from plait.optimizers.evaluate import Evaluation
from plait.optimizers.gepa_merge import instructions_of, pick_merge
from plait.optimizers.proposer import describe_step, with_instructions
from plait.optimizers.random_search import lm_node_ids, search_identity
from plait.optimizers.trials import Search, Trial, check_setup
from plait.pipeline.module import Module
from plait.pipeline.predict import Predict
from plait.pipeline.signature import InputField, OutputField, Signature
from plait.runtime.items import item_fields
from plait.runtime.traces import item_traces

REFLECTOR_NODE = "reflector.improve"


class ImproveInstruction(Signature):
    """Improve the instruction of one step of a language-model program.

    Read the current instruction and examples of the step's inputs and outputs, each with the
    feedback it got; write a new instruction that fixes the failures and keeps what worked.
    Reply with the new instruction only."""

    step: str = InputField(desc="the step: its name, inputs and outputs")
    current_instruction: str = InputField()
    examples_with_feedback: str = InputField()
    improved_instruction: str = OutputField()


class Reflector(Module):
    def __init__(self, lm: Any = None) -> None:
        self.improve = Predict(ImproveInstruction, lm=lm)

    def forward(self, step: str, current_instruction: str, examples_with_feedback: str):
        return self.improve(step=step, current_instruction=current_instruction,
                            examples_with_feedback=examples_with_feedback)


@dataclass
class Candidate:
    compiled: Any
    scores: list[float]  # per valset item
    trial: Trial
    parents: tuple[int, ...] = ()  # pool indices it was made from (a rewrite: one; a merge: two)
    turns: int = 0  # reflection steps taken from it: its nodes are rewritten in turn (GEPA's round robin)

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0


def pareto_front(scores: list[list[float]]) -> dict[int, int]:
    """candidate index -> on how many items it is (jointly) best; only candidates best somewhere."""
    leads: dict[int, int] = {}
    for item in range(len(scores[0]) if scores else 0):
        top = max(s[item] for s in scores)
        for index, s in enumerate(scores):
            if s[item] == top:
                leads[index] = leads.get(index, 0) + 1
    return leads


@dataclass
class GEPA:
    """Evolve instructions from the metric's feedback, keeping a Pareto set over valset items.

    Budget: ``max_trials`` reflection steps and ``max_lm_calls`` (LM calls, counted by content key).

    Example::

        def metric(example, pred):
            ok = example["answer"] == pred.answer
            return plait.Score(float(ok), feedback="" if ok else f"expected {example['answer']}")

        compiled = plait.compile(QA(), optimizer=plait.GEPA(prompt_lm=big_lm, max_trials=20), trainset=train,
                                 valset=val, metric=metric, store="runs.db")
    """

    prompt_lm: Any = None
    max_trials: int = 12
    minibatch_size: int = 4
    max_lm_calls: int | None = None
    max_merges: int = 5  # merge steps (GEPA's max_merge_invocations); 0: rewrites only
    seed: int = 0

    def compile(self, compiled: Any, *, trainset: list[Any], metric: Callable[..., Any] | None = None,
                valset: list[Any] | None = None, store: Any = None, **run_options: Any) -> Any:
        check_setup("GEPA", trainset=trainset, valset=valset, metric=metric, budgets={
            "max_lm_calls": self.max_lm_calls, "max_trials": self.max_trials, "minibatch_size": self.minibatch_size})
        trainset, valset = list(trainset), list(valset if valset is not None else trainset)
        with Search("GEPA", metric=metric, store=store, run_options=run_options,
                    identity=search_identity(self, compiled, trainset, valset),
                    lm_nodes=lm_node_ids(compiled) | {REFLECTOR_NODE}, max_lm_calls=self.max_lm_calls,
                    planned=self.max_trials + 1) as search:
            pool = [self._full(search, compiled, valset, "seed (the program as written)")]
            reflector = compile_program(Reflector(self.prompt_lm))
            merges_due, tried = 0, set()
            for step in range(self.max_trials):
                if search.exhausted():
                    break
                proposed, child = self._merge(step, pool, valset, search, tried) if merges_due else (False, None)
                if proposed:  # the merge was this step
                    merges_due -= 1
                else:
                    child = self._step(step, pool, compiled, trainset, valset, search, reflector)
                    if child is not None and len(tried) + merges_due < self.max_merges:
                        merges_due += 1  # a new line in the pool: worth a merge with another
                if child is not None:
                    pool.append(child)
            chosen = max(pool, key=lambda c: (c.mean, -c.trial.number))
            search.finish(chosen.trial)
            return search.annotate(chosen.compiled, chosen.trial, valset=len(valset), seed=self.seed,
                                   pool=len(pool), pareto=len(pareto_front([c.scores for c in pool])))

    def _full(self, search: Search, compiled: Any, valset: list[Any], label: str,
              parents: tuple[int, ...] = ()) -> Candidate:
        result = search.evaluate(compiled, valset)
        trial = search.record(label, result.score, len(valset), result.run.id, compiled)
        return Candidate(compiled, [i.score for i in result.items], trial, parents)

    def _step(self, step: int, pool: list[Candidate], base: Any, trainset: list[Any], valset: list[Any],
              search: Search, reflector: Any) -> Candidate | None:
        rng = random.Random(f"{self.seed}/gepa/{step}")
        leads = pareto_front([c.scores for c in pool])
        parent = pool[rng.choices(sorted(leads), weights=[leads[i] for i in sorted(leads)])[0]]
        nodes = [n.id for n in base.plan.of_op(Op.PREDICT)]
        node_id, parent.turns = nodes[parent.turns % len(nodes)], parent.turns + 1
        batch = rng.sample(trainset, min(self.minibatch_size, len(trainset)))
        before = search.evaluate(parent.compiled, batch)
        if all(i.score >= 1.0 and i.error is None for i in before.items):
            return None  # nothing to learn from on this minibatch
        instruction = self._reflect(step, node_id, parent.compiled, batch, before, search, reflector)
        if instruction is None:
            return None
        child = with_instructions(parent.compiled, {node_id: instruction})
        if any(instructions_of(c.compiled) == instructions_of(child) for c in pool):
            return None  # a candidate the pool already holds: no need to score it again
        after = search.evaluate(child, batch)
        label = f"step {step + 1}: {node_id.rsplit('.', 1)[-1]} rewritten from #{parent.trial.number}"
        if sum(i.score for i in after.items) <= sum(i.score for i in before.items):
            search.record(f"{label} (rejected on the minibatch)", after.score, len(batch), after.run.id, eligible=False)
            return None
        return self._full(search, child, valset, label, (pool.index(parent),))

    def _merge(self, step: int, pool: list[Candidate], valset: list[Any], search: Search,
               tried: set[tuple[int, int]]) -> tuple[bool, Candidate | None]:
        """(whether a merge was proposed, the kept merge): two Pareto candidates' merge, scored on
        valset items where they differ and kept if it matches the better of them there."""
        rng = random.Random(f"{self.seed}/gepa-merge/{step}")
        picked = pick_merge(pool, sorted(pareto_front([c.scores for c in pool])), rng, tried)
        if picked is None:
            return False, None
        i, j, instructions = picked
        tried.add((i, j))
        child = with_instructions(pool[i].compiled, instructions)
        differ = [k for k in range(len(valset)) if pool[i].scores[k] != pool[j].scores[k]] or list(range(len(valset)))
        items = sorted(rng.sample(differ, min(self.minibatch_size, len(differ))))
        result = search.evaluate(child, [valset[k] for k in items])
        label = f"step {step + 1}: merge of #{pool[i].trial.number} and #{pool[j].trial.number}"
        if sum(s.score for s in result.items) < max(sum(pool[x].scores[k] for k in items) for x in (i, j)):
            search.record(f"{label} (rejected on its items)", result.score, len(items), result.run.id, eligible=False)
            return True, None
        return True, self._full(search, child, valset, label, (i, j))

    def _reflect(self, step: int, node_id: str, parent: Any, batch: list[Any], result: Evaluation,
                 search: Search, reflector: Any) -> str | None:
        node = parent.plan.node(node_id)
        traces = item_traces(result.run.id, parent.plan, search.store)
        shown = [_example(node, example, scored, traces.get(scored.item_id, {}).get(node_id))
                 for example, scored in zip(batch, result.items)]
        run = search.run(reflector, [{"step": describe_step(node), "current_instruction": node.params.instructions,
                                      "examples_with_feedback": "\n\n".join(shown)}], ids=[f"{node_id}/{step}"])
        outputs = run.items[0].outputs
        text = (outputs.improved_instruction or "").strip() if outputs is not None else ""
        return text if text and text != node.params.instructions else None


def _example(node: Any, example: Any, scored: Any, trace: Any) -> str:
    fields = item_fields(example)
    inputs = trace.inputs if trace is not None else {k: fields.get(k) for k in node.params.signature.input_fields}
    outputs = trace.outputs if trace is not None else None
    if scored.error is not None:
        verdict = f"failed: {scored.error.splitlines()[0][:300]}"
    else:
        verdict = f"score {scored.score:g}" + (f"; feedback: {scored.feedback}" if scored.feedback else "")
    return (f"inputs: {json.dumps(inputs, default=str)[:400]}\noutputs: "
            f"{json.dumps(outputs, default=str)[:400] if outputs is not None else '(none)'}\n{verdict}")

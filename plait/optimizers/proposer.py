"""Instruction proposal: an LM writes candidate instructions for each PREDICT node.

The proposer is itself a small plait program (one Predict), run through the executor like any
other: its calls are checkpointed, so a repeated or resumed optimization gets the same proposals
back from the store at no LM cost. It reads a summary of the data (computed, not asked), the
program's steps, the node's current instruction, example traces of the node, and a tip that
varies the proposals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from plait.api.compiled import compile as compile_program
from plait.ir.nodes import Node, Op
from plait.optimizers.random_search import lm_node_ids, search_identity
from plait.optimizers.trials import Search, check_setup
from plait.pipeline.module import Module
from plait.pipeline.predict import Predict
from plait.pipeline.signature import InputField, OutputField, Signature
from plait.runtime.items import item_fields
from plait.runtime.traces import NodeTrace, item_traces

TIPS = (
    "Be clear and specific about what the output must contain.",
    "Keep it short and simple.",
    "Describe the task step by step.",
    "Say what a wrong answer looks like and how to avoid it.",
    "Write it as an expert in this task would.",
    "Mention the exact format of the output.",
)


class ProposeInstruction(Signature):
    """Write a better instruction for one step of a language-model program.

    Read what the data looks like, the program's steps, the step's current instruction and examples
    of its inputs and outputs, and follow the tip. Reply with the new instruction only."""

    dataset: str = InputField(desc="a summary of the task's data")
    program: str = InputField(desc="the program's steps")
    step: str = InputField(desc="the step to instruct: its name, inputs and outputs")
    current_instruction: str = InputField()
    examples: str = InputField(desc="example inputs and outputs of this step")
    tip: str = InputField()
    proposed_instruction: str = OutputField(desc="the new instruction for the step")


class Proposer(Module):
    def __init__(self, lm: Any = None) -> None:
        self.propose = Predict(ProposeInstruction, lm=lm)

    def forward(self, dataset: str, program: str, step: str, current_instruction: str, examples: str, tip: str):
        return self.propose(dataset=dataset, program=program, step=step, current_instruction=current_instruction,
                            examples=examples, tip=tip)


@dataclass
class ProposeInstructions:
    """Propose ``n`` instructions per PREDICT node with an LM, and keep the best set on the valset.

    ``prompt_lm``: the LM that writes the proposals (default: the task LM). As an optimizer, it
    scores the original instructions and the i-th proposal of every node, i = 1..n. MIPRO uses
    :meth:`propose` for its instruction candidates.

    Example::

        compiled = plait.compile(QA(), optimizer=plait.ProposeInstructions(prompt_lm=big_lm, n=4),
                                 trainset=train, valset=val, metric=exact_match, store="runs.db")
    """

    prompt_lm: Any = None
    n: int = 4
    max_examples: int = 3
    max_lm_calls: int | None = None
    seed: int = 0

    def compile(self, compiled: Any, *, trainset: list[Any], metric: Callable[..., Any] | None = None,
                valset: list[Any] | None = None, store: Any = None, **run_options: Any) -> Any:
        check_setup("ProposeInstructions", trainset=trainset, valset=valset, metric=metric,
                    budgets={"max_lm_calls": self.max_lm_calls, "n": self.n})
        valset = list(valset if valset is not None else trainset)
        with Search("ProposeInstructions", metric=metric, store=store, run_options=run_options,
                    identity=search_identity(self, compiled, trainset, valset),
                    lm_nodes=lm_node_ids(compiled) | proposer_node_ids(), max_lm_calls=self.max_lm_calls,
                    planned=self.n + 1) as search:
            run = search.run(compiled, list(trainset))
            proposals = self.propose(compiled, list(trainset), search, item_traces(run.id, compiled.plan, search.store))
            for i in range(self.n + 1):
                if search.exhausted():
                    break
                label = "original" if i == 0 else f"proposal #{i}"
                chosen = {n: p[min(i, len(p) - 1)] for n, p in proposals.items()}  # fewer proposals: the last
                search.trial(label, with_instructions(compiled, chosen), valset)
            chosen = search.best
            search.finish(chosen)
            return search.annotate(chosen.candidate, chosen, valset=len(valset), seed=self.seed)

    def propose(self, compiled: Any, trainset: list[Any], search: Search,
                traces: dict[str, dict[str, NodeTrace]] | None = None) -> dict[str, list[str]]:
        """node id -> [current instruction, then up to ``n`` distinct proposals]; a proposal whose
        reply did not parse is left out, never fatal."""
        nodes = compiled.plan.of_op(Op.PREDICT)
        program, dataset = describe_program(nodes), summarize_data(trainset)
        items, ids = [], []
        for node in nodes:
            examples = describe_traces(node.id, traces or {}, self.max_examples)
            for i in range(self.n):
                ids.append(f"{node.id}/{i}")
                items.append({"dataset": dataset, "program": program, "step": describe_step(node),
                              "current_instruction": node.params.instructions, "examples": examples,
                              "tip": TIPS[(self.seed + i) % len(TIPS)]})
        proposer = _compile_proposer(self.prompt_lm)
        run = search.run(proposer, items, ids=ids)
        return {node.id: _distinct([node.params.instructions, *(
            r.outputs.proposed_instruction for r in run.items
            if r.item_id.rsplit("/", 1)[0] == node.id and r.outputs is not None)]) for node in nodes}


def _compile_proposer(prompt_lm: Any) -> Any:
    return compile_program(Proposer(prompt_lm))


def proposer_node_ids() -> set[str]:
    return {"proposer.propose"}


def with_instructions(compiled: Any, instructions: dict[str, str]) -> Any:
    for node_id, text in instructions.items():
        if compiled.plan.node(node_id).params.instructions != text:
            compiled = compiled.update(node_id, instructions=text)
    return compiled


def summarize_data(trainset: list[Any], shown: int = 2) -> str:
    rows = [item_fields(x) for x in trainset]
    fields = sorted({k for r in rows for k in r})
    examples = "; ".join(_clip(json.dumps(r, default=str, ensure_ascii=False), 200) for r in rows[:shown])
    return f"{len(rows)} examples with the fields {', '.join(fields)}. For example: {examples}"


def describe_program(nodes: list[Node]) -> str:
    return "\n".join(f"{i + 1}. {describe_step(n)}: {n.params.instructions}" for i, n in enumerate(nodes))


def describe_step(node: Node) -> str:
    sig = node.params.signature
    return f"{node.id} ({', '.join(sig.input_fields)} -> {', '.join(sig.output_fields)})"


def describe_traces(node_id: str, traces: dict[str, dict[str, NodeTrace]], limit: int) -> str:
    shown = [t[node_id] for _, t in sorted(traces.items()) if node_id in t][:limit]
    if not shown:
        return "(none yet)"
    return "\n".join(_clip(f"inputs {json.dumps(t.inputs, default=str)} -> outputs "
                           f"{json.dumps(t.outputs, default=str)}", 400) for t in shown)


def _distinct(texts: list[str]) -> list[str]:
    seen: list[str] = []
    for text in texts:
        text = (text or "").strip()
        if text and text not in seen:
            seen.append(text)
    return seen


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

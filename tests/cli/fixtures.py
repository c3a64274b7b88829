"""What the CLI tests name on the command line: pipelines, a scripted LM, a metric.

Used as ``tests.cli.fixtures:Pipeline``, ``--lm scripted:tests.cli.fixtures:lm`` and
``--metric tests.cli.fixtures:exact``, from the repository root.
"""

from __future__ import annotations

import plait


class Pipeline(plait.Module):
    """Two LM nodes: draft an answer, then polish it."""

    def __init__(self):
        self.draft = plait.Predict("question -> draft")
        self.polish = plait.Predict("draft -> answer")

    def forward(self, question: str):
        return self.polish(draft=self.draft(question=question).draft)


pipeline = Pipeline()
compiled = plait.compile(Pipeline())
not_a_pipeline = 42


class NeedsArguments(plait.Module):
    def __init__(self, size: int):
        self.step = plait.Predict("question -> answer")

    def forward(self, question: str):
        return self.step(question=question)


def answer(task) -> dict | str:
    """Deterministic; a question containing 'bad' gets a reply that never parses."""
    text = " ".join(str(v) for v in task.inputs.values())
    if "bad" in text and task.node_id.endswith("draft"):
        return "no fields here at all"
    return {name: f"{name}<{text}>" for name in task.output_fields}


def lm() -> plait.ScriptedLM:
    return plait.ScriptedLM(answer)


def other_lm() -> plait.ScriptedLM:
    return plait.ScriptedLM(answer, name="other", version="2")


def exact(example, prediction) -> bool:
    return prediction.answer == example.answer


def slow_lm() -> plait.ScriptedLM:
    """The same answers, a quarter second each: slow enough to interrupt a run mid-way."""
    return plait.ScriptedLM(answer, latency=0.25)


class QA(plait.Module):
    """One LM node whose fields match the labeled trainset: what LabeledFewShot fills with demos."""

    def __init__(self):
        self.answer = plait.Predict("question -> answer")

    def forward(self, question: str):
        return self.answer(question=question)


edited = compiled.update("pipeline.polish", instructions="Polish the draft into one short sentence.")

"""Example programs shared by the tests: the same programs run eager, compiled and resumed."""

from __future__ import annotations

from typing import Literal

import plait


class Summarize(plait.Signature):
    """Summarize the document in one sentence."""

    document: str = plait.InputField()
    summary: str = plait.OutputField()


class Classify(plait.Signature):
    """Label the summary's topic."""

    summary: str = plait.InputField()
    topic: Literal["sports", "politics", "science", "other"] = plait.OutputField()


class Pipeline(plait.Module):
    def __init__(self):
        self.summarize = plait.Predict(Summarize)
        self.classify = plait.ChainOfThought(Classify)

    def forward(self, document: str):
        s = self.summarize(document=document)
        return self.classify(summary=s.summary)


class Chain4(plait.Module):
    """Four LM nodes in a chain; ``third_instructions`` lets tests edit the third node."""

    def __init__(self, third_instructions: str = "Continue."):
        self.n1 = plait.Predict("question -> a")
        self.n2 = plait.Predict("a -> b")
        self.n3 = plait.Predict(plait.Signature("b -> c", third_instructions))
        self.n4 = plait.Predict("c -> d")

    def forward(self, question: str):
        a = self.n1(question=question).a
        b = self.n2(a=a).b
        c = self.n3(b=b).c
        return self.n4(c=c)


@plait.step
def join(left: str, right: str) -> str:
    """Glue: concatenate two branches."""
    return f"{left}+{right}"


class Diamond(plait.Module):
    """Two parallel branches joined by a step."""

    def __init__(self):
        self.root = plait.Predict("question -> a")
        self.left = plait.Predict("a -> b")
        self.right = plait.Predict("a -> c")
        self.final = plait.Predict("text -> answer")

    def forward(self, question: str):
        a = self.root(question=question).a
        joined = join(self.left(a=a).b, self.right(a=a).c)
        return self.final(text=joined)


def echo_answer(task: plait.lm.protocol.LMTask) -> dict:
    """Each output field = '<field>(<inputs>)', deterministic in the inputs and instructions."""
    shown = ",".join(str(v) for v in task.inputs.values())
    out = {}
    for name in task.output_fields:
        out[name] = "sports" if name == "topic" else f"{name}({shown})"
    return out


def line_of(func, needle: str) -> int:
    """The line number of the first line of ``func``'s source that contains ``needle``."""
    import inspect  # here, not at the top: golden plans quote this file's line numbers

    lines, start = inspect.getsourcelines(func)
    return start + next(i for i, line in enumerate(lines) if needle in line)

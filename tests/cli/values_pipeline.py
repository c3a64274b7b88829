"""What tests/cli/test_cli_values.py names on the command line: a pipeline whose steps pass NaN,
the infinities and lone surrogates through, and an LM node on a question."""

from __future__ import annotations

import plait


@plait.step
def scale(x: float) -> float:
    return x * 2


@plait.step
def tag(text: str) -> str:
    return f"<{text}>"


class Values(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("question -> answer")

    def forward(self, question: str, x: float, text: str):
        return {"answer": self.answer(question=question).answer, "scaled": scale(x), "tagged": tag(text)}

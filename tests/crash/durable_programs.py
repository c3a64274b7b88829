"""DSPy programs of different shapes, and one deterministic LM that plain DSPy and plait both call.

The LM answers from the chat messages alone (DSPy's ChatAdapter format, which plait's "chat" adapter
produces identically): each output field's value is derived from a hash of the last user message,
so the same prompt always gets the same reply, and plain DSPy's outputs can be compared with
plait's item for item. ``calls_file``: one line per call, appended (kill tests count across processes).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from typing import Any, Literal

import dspy

from plait.lm.protocol import LMRequest, LMResponse, Usage

_FIELD = re.compile(r"^\d+\. `(\w+)` \((.*?)\):", re.M)


def reply(messages: list[dict[str, str]]) -> str:
    """The deterministic reply to a ChatAdapter prompt."""
    system, user = messages[0]["content"], messages[-1]["content"]
    outputs = system.split("Your output fields are:")[1].split("All interactions")[0]
    digest = int(hashlib.sha256(user.encode()).hexdigest(), 16)
    parts = [f"[[ ## {name} ## ]]\n{_value(name, kind, digest, user)}" for name, kind in _FIELD.findall(outputs)]
    return "\n\n".join(parts) + "\n\n[[ ## completed ## ]]"


def _value(name: str, kind: str, digest: int, user: str) -> str:
    if kind.startswith("Literal["):
        options = re.findall(r"'([^']*)'", kind)
        if "finish" in options:  # an agent: one tool call, then finish
            return "finish" if "observation_0" in user else options[0]
        return options[digest % len(options)]
    if name == "next_tool_args":
        return "{}" if "observation_0" in user else json.dumps({"a": digest % 10, "b": 3})
    if kind == "int":
        return str(digest % 100)
    if kind == "bool":
        return "true" if digest % 3 else "false"
    if kind.startswith("list"):
        return json.dumps([f"{name}-{digest % 7}", f"{name}-{digest % 11}"])
    return f"{name} {digest % 100000}"


class EchoLM:
    """The deterministic LM as a plait LM (for plait.durable's runs)."""

    adapter = "chat"
    max_concurrency = 64

    def __init__(self, name: str = "echo", calls_file: str | None = None, latency: float = 0.0) -> None:
        self.name, self.calls_file, self.latency, self.calls = name, calls_file, latency, 0

    def identity(self) -> dict[str, Any]:
        return {"backend": "test-echo", "name": self.name}

    async def acall(self, request: LMRequest) -> LMResponse:
        self.calls += 1
        _note(self.calls_file)
        if self.latency:
            await asyncio.sleep(self.latency)  # calls of several items are in flight at once
        return LMResponse(reply(request.messages), Usage(10, 10))


class EchoDSPyLM(dspy.BaseLM):
    """The same LM as a dspy.BaseLM (for plain DSPy and DSPy's optimizers)."""

    def __init__(self, calls_file: str | None = None, latency: float = 0.0) -> None:
        super().__init__(model="test/echo", cache=False, num_retries=0)
        self.calls_file, self.latency, self.calls = calls_file, latency, 0

    def forward(self, prompt: str | None = None, messages: list[dict] | None = None, **kwargs: Any) -> dict:
        self.calls += 1
        _note(self.calls_file)
        if self.latency:
            time.sleep(self.latency)
        text = reply(messages or [{"role": "user", "content": prompt or ""}])
        return {"model": self.model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                  "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}


def _note(calls_file: str | None) -> None:
    if calls_file:
        fd = os.open(calls_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, b"call\n")
        os.close(fd)


# --- programs ---------------------------------------------------------------------------------------
class Chain(dspy.Module):
    """Two predictors in a chain."""

    def __init__(self):
        super().__init__()
        self.draft = dspy.Predict("question -> draft")
        self.polish = dspy.Predict("question, draft -> answer")

    def forward(self, question):
        return self.polish(question=question, draft=self.draft(question=question).draft)


class Branches(dspy.Module):
    """Two independent branches, joined by a third predictor."""

    def __init__(self):
        super().__init__()
        self.pro = dspy.Predict("topic -> argument")
        self.con = dspy.Predict("topic -> argument")
        self.judge = dspy.Predict("topic, pro, con -> verdict")

    def forward(self, topic):
        pro, con = self.pro(topic=topic).argument, self.con(topic=topic).argument
        return self.judge(topic=topic, pro=pro, con=con)


class Rating(dspy.Signature):
    """Rate the review."""

    review: str = dspy.InputField()
    stars: int = dspy.OutputField()
    mood: Literal["happy", "sad", "neutral"] = dspy.OutputField()
    tags: list[str] = dspy.OutputField()


class TypedCoT(dspy.Module):
    """ChainOfThought with typed outputs."""

    def __init__(self):
        super().__init__()
        self.rate = dspy.ChainOfThought(Rating)

    def forward(self, review):
        return self.rate(review=review)


class MultiHop(dspy.Module):
    """A loop whose length depends on the data: an early exit when the LM says it is enough."""

    def __init__(self, hops: int = 3):
        super().__init__()
        self.hops = hops
        self.query = dspy.Predict("question, notes -> query, enough: bool")
        self.answer = dspy.Predict("question, notes -> answer")

    def forward(self, question):
        notes = []
        for _ in range(self.hops):
            hop = self.query(question=question, notes="; ".join(notes))
            notes.append(hop.query)
            if hop.enough:
                break
        return self.answer(question=question, notes="; ".join(notes))


def add(a: int, b: int) -> int:
    """Add two integers."""
    TOOL_CALLS.append((a, b))
    return a + b


TOOL_CALLS: list[tuple[int, int]] = []  # the calls of the add tool made in this process


class Agent(dspy.Module):
    """dspy.ReAct with a tool."""

    def __init__(self):
        super().__init__()
        self.agent = dspy.ReAct("question -> answer", tools=[add], max_iters=3)

    def forward(self, question):
        return self.agent(question=question)


PROGRAMS = [Chain, Branches, TypedCoT, MultiHop, Agent]
QUESTIONS = ["What is 2 + 3?", "Why is the sky blue?", "Who wrote Hamlet?", "日本の首都は？", "tab\there"]


def items_for(program: dspy.Module) -> list[dict[str, str]]:
    """Five items with the field the program's forward takes."""
    field = {Branches: "topic", TypedCoT: "review"}.get(type(program), "question")
    return [{field: q} for q in QUESTIONS]

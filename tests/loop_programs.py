"""Loops, agents and tools shared by the loop tests and the crash child (importable by path, so a
saved plan and a resumed run find the tools and steps again).

Tools log their calls: to ``TOOL_LOG`` (an in-process list) and, when ``$PLAIT_TOOL_LOG`` names a
file, one line per call appended to it (the crash tests count calls across processes).
"""

from __future__ import annotations

import os
import time
from typing import Any

import plait

TOOL_LOG: list[dict[str, Any]] = []
SERVED: dict[str, int] = {}  # idempotency key -> the result first served for it


def _log(name: str, **details: Any) -> None:
    TOOL_LOG.append({"tool": name, **details})
    path = os.environ.get("PLAIT_TOOL_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{name} {details.get('key', '')}\n")


def add(a: int, b: int) -> int:
    """Add two integers."""
    _log("add", a=a, b=b)
    return a + b


def divide(a: float, b: float) -> float:
    """Divide a by b."""
    _log("divide", a=a, b=b)
    return a / b


def deposit(amount: int, idempotency_key: str) -> int:
    """Deposit an amount; a repeated call with the same key is served once (its side effect happens once)."""
    _log("deposit", amount=amount, key=idempotency_key)
    if idempotency_key not in SERVED:
        SERVED[idempotency_key] = sum(SERVED.values()) + amount
    return SERVED[idempotency_key]


def tick(n: int) -> int:
    """Count one up: a cheap tool for long loops."""
    _log("tick", n=n)
    return n + 1


def keyed_tick(n: int, idempotency_key: str) -> int:
    """Count one up, logging the idempotency key: the crash tests check repeated calls share it."""
    _log("keyed_tick", n=n, key=idempotency_key)
    time.sleep(float(os.environ.get("PLAIT_TOOL_LATENCY", "0")))  # a slow side effect: kills land inside it
    return n + 1


@plait.step
def count_up(start: int, trajectory: list[dict]) -> dict:
    n = trajectory[-1]["n"] + 1 if trajectory else start
    return {"n": n, "done": n >= 5}


@plait.step
def never_done(start: int, trajectory: list[dict]) -> dict:
    return {"n": start + len(trajectory), "done": False}


class Counter(plait.Module):
    """A user loop: a step counts from ``start`` to 5."""

    def __init__(self, body=count_up, max_iters: int = 10, on_max_iters: str = "error"):
        self.body, self.max_iters, self.on_max_iters = body, max_iters, on_max_iters

    def forward(self, start: int):
        result = plait.loop(self.body, max_iters=self.max_iters, on_max_iters=self.on_max_iters, start=start)
        return {"last": result.last, "iterations": result.iterations, "finished": result.finished}


class Critic(plait.Module):
    """A user loop with an LM call per iteration: draft, then a step that decides when to stop."""

    def __init__(self):
        self.draft = plait.Predict("topic, trajectory -> draft")

    def forward(self, topic: str, trajectory: list[dict]):
        draft = self.draft(topic=topic, trajectory=trajectory).draft
        return {"draft": draft, "done": good_enough(draft=draft, trajectory=trajectory)}


@plait.step
def good_enough(draft: str, trajectory: list[dict]) -> bool:
    return len(trajectory) >= 2


class Writer(plait.Module):
    def __init__(self):
        self.critic = Critic()

    def forward(self, topic: str):
        return {"final": plait.loop(self.critic, max_iters=5, topic=topic).last}


def ticking_agent(iterations: int, tool=tick) -> plait.ReAct:
    """A ReAct agent whose scripted LM (``ticking_answer``) ticks ``iterations - 1`` times, then finishes."""
    return plait.ReAct("question -> answer: int", tools=[tool], max_iters=iterations + 1)


def ticking_answer(iterations: int, tool: str = "tick"):
    """Call tick with the last observation until ``iterations - 1`` observations exist, then finish."""

    def answer(task):
        if "answer" in task.output_fields:
            return {"answer": iterations}
        trajectory = task.inputs["trajectory"]
        done = trajectory.count("observation_")
        if done >= iterations - 1:
            return {"next_thought": "enough", "next_tool_name": "finish", "next_tool_args": {}}
        last = int(trajectory.rsplit("observation_", 1)[1].split(": ", 1)[1].split("\n")[0]) if done else 0
        return {"next_thought": f"tick {done}", "next_tool_name": tool, "next_tool_args": {"n": last}}

    return answer


@plait.step
def add_step_without_done(start: int, trajectory: list[dict]) -> dict:
    return {"n": start + 1}


@plait.step
def fragile(start: int, trajectory: list[dict]) -> dict:
    if start < 0:
        raise ValueError(f"cannot count from {start}")
    return {"n": start + len(trajectory), "done": len(trajectory) >= 1}

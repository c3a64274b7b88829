"""plait.ReAct on the real embedded model (SmolLM2-135M): durability and structure, not answer
quality. A budget of 3 LM calls stops the run once the agent's first turn (a reply and at most two
re-asks) is recorded; resume replays the recorded iterations and goes on; every iteration is
journaled; a second resume makes no LM call at all."""

from __future__ import annotations

import json

import pytest

import plait
from plait.runtime import events as ev
from tests import loop_programs as lp

from tests.local_model import require_local_model

local = require_local_model()
pytestmark = pytest.mark.local_model

MAX_ITERS = 2
SOLVED = 'thought_0: I add 4 and 4.\ntool_name_0: add\ntool_args_0: {"a": 4, "b": 4}\nobservation_0: 8'
REACT_DEMOS = [  # the small model follows the format far better with an example of each kind of turn
    {"question": "What is 4 + 4?", "trajectory": "", "next_thought": "I add 4 and 4.", "next_tool_name": "add",
     "next_tool_args": {"a": 4, "b": 4}},
    {"question": "What is 4 + 4?", "trajectory": SOLVED, "next_thought": "The sum is 8.", "next_tool_name": "finish",
     "next_tool_args": {}},
]
EXTRACT_DEMOS = [{"question": "What is 4 + 4?", "trajectory": SOLVED, "answer": "8"}]


def agent() -> plait.ReAct:
    react = plait.ReAct("question -> answer", tools=[lp.add], max_iters=MAX_ITERS, repeat_penalty=1.3)
    react.react.demos, react.extract.demos = REACT_DEMOS, EXTRACT_DEMOS
    return react


class Seen:
    def __init__(self) -> None:
        self.iterations: list[tuple[int, str]] = []
        self.lm_calls = 0

    def __call__(self, event) -> None:
        if isinstance(event, ev.LoopIteration):
            self.iterations.append((event.iteration, event.source))
        elif isinstance(event, ev.NodeFinished) and event.source == "lm":
            self.lm_calls += 1


def recorded_iterations(store_path: str, run_id: str) -> tuple[int, bool]:
    store = plait.SQLiteStore(store_path)
    try:
        rows = [k[2] for k, r in store.journal(run_id).items() if k[1] == "re_act" and r.status == "ok"]
    finally:
        store.close()
    return sum(1 for i in rows if i >= 1), 0 in rows


def test_react_on_the_local_model_is_journaled_and_resumes_without_lm_calls(store_path):
    lm = local.LocalLM(max_tokens=64)
    compiled = plait.compile(agent())
    first = compiled.run([{"question": "What is 2 + 3?"}], store=store_path, lm=lm, progress=False,
                         budget=plait.Budget(lm_calls=3))
    assert first.status in ("stopped", "done"), first.items[0].error
    recorded, loop_done = recorded_iterations(store_path, first.id)
    assert recorded >= 1  # the first turn fits in the budget, re-asks included

    resumed = Seen()
    done = plait.resume(first.id, store=store_path, lm=lm, on_event=resumed)
    assert done.status == "done", done.items[0].error
    if not loop_done:  # the recorded iterations are not asked again; the others run
        assert resumed.iterations[:recorded] == [(i, "replay") for i in range(1, recorded + 1)]
        assert all(source != "replay" for _, source in resumed.iterations[recorded:])

    store = plait.SQLiteStore(store_path)
    try:
        rows = {k[2]: r for k, r in store.journal(first.id).items() if k[1] == "re_act" and r.status == "ok"}
        value = json.loads(store.read_value(rows[0].value_hash))
        entries = [json.loads(store.read_value(rows[i].value_hash)) for i in range(1, value["iterations"] + 1)]
    finally:
        store.close()
    assert 1 <= value["iterations"] <= MAX_ITERS and sorted(rows) == list(range(value["iterations"] + 1))
    assert value["trajectory"] == entries  # the trajectory is the iterations' deltas, concatenated
    assert all("next_tool_name" in e or "unparsed" in e for e in entries)

    again = Seen()
    replay = plait.resume(first.id, store=store_path, lm=lm, on_event=again)
    assert replay.status == "done" and again.lm_calls == 0
    assert replay.items[0].outputs == done.items[0].outputs

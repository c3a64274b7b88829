"""A question inside a loop: each iteration asks its own question exactly once, and a resume
replays the answered iterations instead of asking them again."""

from __future__ import annotations

import sqlite3

import plait

ASKED: list[int] = []


@plait.step
def ask_each_round(start: int, trajectory: list[dict]) -> dict:
    n = len(trajectory) + start
    ASKED.append(n)
    keep_going = plait.approve(f"Go on past {n}?")
    return {"n": n, "done": not keep_going}


class Rounds(plait.Module):
    def forward(self, start: int):
        result = plait.loop(ask_each_round, max_iters=5, start=start)
        return {"last": result.last, "iterations": result.iterations}


def test_each_iteration_asks_once_and_answered_iterations_replay(store_path):
    ASKED.clear()
    run = plait.compile(Rounds()).run([{"start": 1}], store=store_path)
    assert [(q.iteration, q.ask, q.question) for q in run.pending()] == [(1, 0, "Go on past 1?")]
    plait.answer(run.id, "0", "rounds.loop", True, iteration=1, store=store_path)
    second = plait.resume(run.id, store=store_path)
    assert [(q.iteration, q.question) for q in second.pending()] == [(2, "Go on past 2?")]
    plait.resume(run.id, store=store_path)  # no answer yet: still waiting, iteration 1 is not asked again
    assert [(q.iteration, q.question) for q in plait.pending(run.id, store=store_path)] == [(2, "Go on past 2?")]
    plait.answer(run.id, "0", "rounds.loop", False, iteration=2, store=store_path)
    done = plait.resume(run.id, store=store_path)
    assert done.status == "done" and done.outputs[0].iterations == 2 and done.outputs[0].last["n"] == 2
    # The body re-runs from the top until its answer exists (asking, then answered), and a recorded
    # iteration never runs again: 1 asks, 1 answered; 2 asks, 2 still waits, 2 answered.
    assert ASKED == [1, 1, 2, 2, 2]
    asks = sqlite3.connect(store_path).execute("SELECT iteration, ask_index FROM asks ORDER BY 1").fetchall()
    assert asks == [(1, 0), (2, 0)]  # one question per iteration, each asked once

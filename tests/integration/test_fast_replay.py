"""Finished items replay straight from their rows (plait/runtime/replay.py), and a resume gives the
same run as the scheduler's node-by-node replay: outputs, statuses, errors, stats, totals, the
node tally and the events displays consume; unfinished, failed, waiting and edited items go the
normal way. Each comparison prepares two identical stores and resumes one with the fast path
turned off."""

from __future__ import annotations

from collections import Counter
from typing import Any

import plait
from plait.runtime import events as ev
from plait.runtime.replay import FinishedReplay

QUESTIONS = [{"question": q} for q in ("alpha", "beta", "bad", "gamma", "delta")]
ANSWERED = ("0", "1", "4")  # the review answered for these; "3" keeps waiting, "2" fails


@plait.step
def join(left: str, right: int) -> str:
    return f"{left}+{right}"


class Branchy(plait.Module):
    """Two branches joined by a step, a person's review, a pure template node and a last LM node."""

    def __init__(self, final_instructions: str = "Answer."):
        self.root = plait.Predict("question -> a")
        self.left = plait.Predict("a -> b")
        self.right = plait.Predict("a -> c: int")
        self.review = plait.HumanInput(plait.Signature("joined -> ok: bool"))
        self.final = plait.Predict(plait.Signature("text -> answer", final_instructions))

    def forward(self, question: str):
        a = self.root(question=question).a
        joined = join(left=self.left(a=a).b, right=self.right(a=a).c)
        ok = self.review(joined=joined).ok
        return self.final(text=f"{joined} reviewed {ok}")


def answer(task):
    """Deterministic in the inputs; the right branch of item 'bad' never parses into an int."""
    shown = ",".join(str(v) for v in task.inputs.values())
    if "c" in task.output_fields:
        return {"c": "not a number" if "bad" in shown else str(len(shown))}
    return {f: f"{f}({shown})" for f in task.output_fields}


def prepared(path: str, lm: plait.ScriptedLM) -> str:
    """A run with done, failed and waiting items: run, answer three reviews, resume once."""
    first = plait.compile(Branchy()).run(QUESTIONS, store=path, lm=lm, progress=False)
    for item in ANSWERED:
        plait.answer(first.id, item, "branchy.review", {"ok": item != "1"}, store=path)
    plait.resume(first.id, store=path, lm=lm, progress=False)
    return first.id



def spy_on_fast_replay(monkeypatch, replayed: list[str], fast: bool = True) -> Any:
    """Collect in ``replayed`` the ids of the items the fast path replays (``fast=False``: it replays none);
    the original ``FinishedReplay.replay``, to put back."""
    original = FinishedReplay.replay

    async def replay(self, items):
        if not fast:
            return list(items)
        seen = []  # the items as the replay takes them (a run's items are an iterator: runtime/feed.py)
        left = await original(self, (seen.append(i) or i for i in items))
        replayed.extend(i.item_id for i in seen if i not in left)
        return left

    monkeypatch.setattr(FinishedReplay, "replay", replay)
    return original

def resumed(tmp_path, monkeypatch, name: str, fast: bool, pipeline=None) -> tuple[dict, list[str]]:
    """Resume a prepared run (fast path on or off); what it gave, and the items the fast path replayed."""
    path, lm = str(tmp_path / f"{name}.db"), plait.ScriptedLM(answer)
    run_id, fast_items = prepared(path, lm), []
    original = spy_on_fast_replay(monkeypatch, fast_items, fast)
    events: list[ev.Event] = []
    calls_before = lm.calls
    run = plait.resume(run_id, store=path, lm=lm, pipeline=pipeline, progress=False, on_event=events.append)
    monkeypatch.setattr(FinishedReplay, "replay", original)
    return observed(run, events, lm.calls - calls_before), fast_items


def observed(run, events: list[ev.Event], calls: int) -> dict:
    """Everything a user, a display or the tally sees of a run, but its id and timings."""
    def timeless(d: dict) -> dict:
        return {k: v for k, v in d.items() if k != "seconds"}

    seen = Counter((type(e).__name__, getattr(e, "item_id", None), getattr(e, "node_id", None),
                    getattr(e, "source", None), getattr(e, "status", None)) for e in events)
    return {"status": run.status, "calls": calls, "stats": timeless(run.stats.as_dict()),
            "totals": timeless(run.totals.as_dict()),
            "items": [(r.item_id, r.status, dict(r.outputs) if r.outputs is not None else None, r.error)
                      for r in run.items],
            "tally": {n: timeless(c.as_dict()) for n, c in run.tally.nodes.items()}, "events": seen}


def test_fast_replay_equals_the_normal_replay_with_done_failed_and_waiting_items(tmp_path, monkeypatch):
    fast, fast_items = resumed(tmp_path, monkeypatch, "fast", fast=True)
    normal, _ = resumed(tmp_path, monkeypatch, "normal", fast=False)
    assert fast == normal
    assert fast_items == list(ANSWERED)  # the done items; the failed and the waiting one go the normal way
    assert [(i, s) for i, s, *_ in fast["items"]] == [("0", "done"), ("1", "done"), ("2", "failed"),
                                                     ("3", "waiting"), ("4", "done")]
    assert fast["calls"] == 0 and fast["status"] == "waiting"
    assert fast["items"][1][2] == {"answer": "answer(b(a(beta))+7 reviewed False)"}
    assert "not a number" in fast["items"][2][3]
    assert fast["events"][("NodeFinished", "0", "branchy.final", "replay", None)] == 1
    # done: six nodes replayed and the template recomputed; waiting: four before the review; failed: two
    assert sum(n for (kind, *_), n in fast["events"].items() if kind == "NodeFinished") == 3 * 7 + 4 + 2


def test_an_edited_node_recomputes_the_same_way_with_the_fast_path(tmp_path, monkeypatch):
    edited = plait.compile(Branchy(final_instructions="Answer briefly."))
    fast, fast_items = resumed(tmp_path, monkeypatch, "fast", fast=True, pipeline=edited)
    normal, _ = resumed(tmp_path, monkeypatch, "normal", fast=False, pipeline=edited)
    assert fast == normal
    assert fast_items == []  # every done item's last node changed: none replays in full
    assert fast["calls"] == len(ANSWERED)  # exactly the edited node of each done item
    assert fast["events"][("NodeFinished", "0", "branchy.root", "replay", None)] == 1
    assert fast["events"][("NodeFinished", "0", "branchy.final", "lm", None)] == 1


def test_a_finished_run_replays_every_item_from_its_rows_on_every_store(store):
    lm = plait.ScriptedLM(answer)
    compiled = plait.compile(Branchy())
    questions = [q for q in QUESTIONS if q["question"] != "bad"] * 60  # 240 items, 3 batches
    first = compiled.run(questions, store=store, lm=lm, progress=False)
    for item in first.items:
        plait.answer(first.id, item.item_id, "branchy.review", {"ok": True}, store=store)
    done = plait.resume(first.id, store=store, lm=lm, progress=False)
    calls, replayed = lm.calls, []
    original = FinishedReplay.replay

    async def spy(self, items):
        left = await original(self, items)
        replayed.append((len(items), len(left)))
        return left

    FinishedReplay.replay = spy
    try:
        again = plait.resume(first.id, store=store, lm=lm, progress=False)
    finally:
        FinishedReplay.replay = original
    assert done.status == again.status == "done" and lm.calls == calls
    assert replayed == [(len(questions), 0)]
    assert [r.outputs for r in again.items] == [r.outputs for r in done.items]
    assert again.stats.replayed == len(questions) * 6 and again.stats.steps == len(questions) and again.stats.lm_calls == 0
    assert again.totals.as_dict() == done.totals.as_dict() | {"seconds": again.totals.seconds}

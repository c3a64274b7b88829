"""A recorded output is authoritative, whatever options the resume is given (DESIGN.md contract 5).

A run whose primary LM is down finishes on its fallback. Resuming it, finished or half-finished,
under every combination of resume options (the LM the same, another, or still down; the same
fallbacks, none, or others; another retry policy; a small budget; concurrency 1 or 8) must make no
LM call for a node the journal holds, return the journal's outputs, and never turn a finished item
into a failed one. Options decide only what runs next.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import sqlite3

import pytest

import plait
from plait.lm.protocol import LMError
from tests import loop_programs as lp


class DownLM:
    """A provider that is down: every request fails as a 503 does (transient), and is counted."""

    adapter, max_concurrency = "chat", 64

    def __init__(self, name: str = "primary") -> None:
        self.name, self.requests = name, []

    def identity(self) -> dict:
        return {"backend": "scripted", "name": self.name, "version": "1"}  # a ScriptedLM's of that name

    async def acall(self, request):
        self.requests.append(request)
        raise LMError(f"the provider is down (HTTP 503) calling {self.name}", transient=True)


def answering(name: str):
    """Each LM answers in its own words; 'backup' cannot answer a 'bad' question (its reply never parses)."""
    def answer(task):
        text = " ".join(str(v) for v in task.inputs.values())
        if name == "backup" and "bad" in text:
            return "no fields"
        return {field: f"{name}:{field}<{text}>" for field in task.output_fields}
    return answer


def healthy(name: str) -> plait.ScriptedLM:
    return plait.ScriptedLM(answering(name), name=name, record=True)


class Draft(plait.Module):
    def __init__(self):
        self.draft = plait.Predict("question -> draft")
        self.answer = plait.Predict("draft -> answer")

    def forward(self, question: str):
        return self.answer(draft=self.draft(question=question).draft)


FINISHED = [{"question": f"q{i}"} for i in range(5)]
HALF = [{"question": "q0"}, {"question": "bad q1"}, *({"question": f"q{i}"} for i in range(2, 6))]
IDS = [f"i{i}" for i in range(6)]
HALF_BUDGET = plait.Budget(lm_calls=14)  # q0, q2, q3 done, 'bad q1' failed, q4 and q5 unfinished


def original_run(store: str, items: list[dict], budget: plait.Budget | None) -> plait.Run:
    """Primary down, the fallback answers: what the issue's user saw."""
    return plait.compile(Draft()).run(items, ids=IDS[:len(items)], store=store, lm=DownLM(),
                                      fallbacks=[healthy("backup")], clock=plait.FakeClock(), concurrency=1,
                                      budget=budget, retry=plait.RetryPolicy(max_attempts=10), progress=False)


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, str]:
    """Two stores, closed: one with a finished run, one with a half-finished one (stopped by its budget)."""
    tmp, stores = tmp_path_factory.mktemp("originals"), {}
    for kind, items, budget in (("finished", FINISHED, None), ("half", HALF, HALF_BUDGET)):
        path = str(tmp / f"{kind}.db")
        run = original_run(path, items, budget)
        assert run.status == ("done" if kind == "finished" else "stopped")
        stores[kind] = path
    return stores


def journal(store: str) -> tuple[str, dict, dict]:
    """The run id, its ok rows {(item, node): value}, and its item statuses, read with sqlite3."""
    conn = sqlite3.connect(store)
    (run_id,) = conn.execute("SELECT run_id FROM runs").fetchone()
    ok = {(item, node): json.loads(bytes(data)) for item, node, data in conn.execute(
        "SELECT j.item_id, j.node_id, b.data FROM journal j JOIN blobs b ON b.hash = j.value_hash "
        "WHERE j.run_no=(SELECT run_no FROM runs WHERE run_id=?) AND j.status='ok'",
        (run_id,))}
    statuses = dict(conn.execute("SELECT item_id, status FROM items WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)",
                                 (run_id,)))
    conn.close()
    return run_id, ok, statuses


LM_CHOICES = {"same": lambda: healthy("primary"), "different": lambda: healthy("other"), "down": DownLM}
FALLBACK_CHOICES = {"same": lambda: [healthy("backup")], "none": lambda: None, "other": lambda: [healthy("spare")]}
RETRY_CHOICES = {"default": None, "other": plait.RetryPolicy(max_attempts=2, initial=0.5)}
BUDGET_CHOICES = {"none": None, "small": plait.Budget(lm_calls=1)}
COMBINATIONS = list(itertools.product(["finished", "half"], LM_CHOICES, FALLBACK_CHOICES, RETRY_CHOICES,
                                      BUDGET_CHOICES, [1, 8]))


@pytest.mark.parametrize("kind, lm, fallbacks, retry, budget, concurrency", COMBINATIONS)
def test_a_resume_replays_what_was_recorded_whatever_its_options(originals, tmp_path, kind, lm, fallbacks, retry,
                                                                 budget, concurrency):
    store = str(tmp_path / "runs.db")
    shutil.copy(originals[kind], store)
    run_id, recorded, before = journal(store)
    lms = [LM_CHOICES[lm](), *(FALLBACK_CHOICES[fallbacks]() or [])]
    options = {"retry": RETRY_CHOICES[retry], "budget": BUDGET_CHOICES[budget], "fallbacks": lms[1:] or None}
    run = plait.resume(run_id, store=store, lm=lms[0], clock=plait.FakeClock(), concurrency=concurrency,
                       progress=False, **{k: v for k, v in options.items() if v is not None})

    called = [(_item_of(r), r.task.node_id) for lm_ in lms for r in lm_.requests]
    assert not [c for c in called if c in recorded], "an LM was called for a node the journal holds"
    _, _, after = journal(store)
    for result in run.items:
        if before[result.item_id] == "done":  # a finished item comes back as recorded, never failed
            assert result.status == "done" and after[result.item_id] == "done"
            assert dict(result.outputs) == recorded[(result.item_id, "outputs")]
    if kind == "finished":
        assert run.status == "done" and run.stats.lm_calls == 0 and run.stats.replayed == 10


QUESTION = re.compile(r"q(\d)")


def _item_of(request) -> str:
    """Which item a request is for: every node's input carries the item's question, q<N>."""
    return "i" + QUESTION.search(json.dumps(request.task.inputs)).group(1)


def test_the_half_finished_run_goes_on_with_the_resumes_options(originals, tmp_path):
    """What the options are for: the unfinished and failed items run, on the LM the resume names."""
    store = str(tmp_path / "runs.db")
    shutil.copy(originals["half"], store)
    run_id, recorded, before = journal(store)
    assert sorted(before.values()) == ["done", "done", "done", "failed", "pending", "pending"]
    other = healthy("other")
    run = plait.resume(run_id, store=store, lm=other, progress=False)
    assert run.status == "done" and {r.task.node_id for r in other.requests} == {"draft.draft", "draft.answer"}
    outputs = {r.item_id: r.outputs.answer for r in run.items}
    assert outputs["i0"] == recorded[("i0", "outputs")]["answer"] and outputs["i0"].startswith("backup:")
    assert outputs["i1"] == "other:answer<other:draft<bad q1>>"  # failed before: run again, by this LM


def test_a_stopped_resume_still_returns_every_finished_item(originals, tmp_path):
    """A budget that stops the resume at its first call (the failed item, 'bad q1') does not hide the
    finished items after it: they replay, and come back done with their outputs."""
    store = str(tmp_path / "runs.db")
    shutil.copy(originals["half"], store)
    run_id, recorded, _ = journal(store)
    run = plait.resume(run_id, store=store, lm=healthy("primary"), budget=plait.Budget(lm_calls=1),
                       concurrency=1, progress=False)
    assert run.status == "stopped" and "budget" in run.stop_reason
    statuses = {r.item_id: r.status for r in run.items}
    assert statuses == {"i0": "done", "i1": "interrupted", "i2": "done", "i3": "done", "i4": "interrupted",
                        "i5": "interrupted"}
    assert run.items[3].outputs.answer == recorded[("i3", "outputs")]["answer"]


def test_the_cache_never_serves_a_fallbacks_answer_as_the_primarys(originals, tmp_path):
    """Replay ignores the LM, the cache does not: a new run with a healthy primary asks it again."""
    store = str(tmp_path / "runs.db")
    shutil.copy(originals["finished"], store)
    primary = healthy("primary")
    run = plait.compile(Draft()).run(FINISHED, ids=IDS[:5], store=store, lm=primary, progress=False)
    assert run.stats.cache_hits == 0 and primary.calls == 10
    assert run.items[0].outputs.answer == "primary:answer<primary:draft<q0>>"


def test_loop_iterations_replay_whichever_lm_answered_them(store_path):
    """A loop whose iterations a fallback answered replays them on a resume without the fallback,
    and a new run with the healthy primary does not take them from the cache."""
    compiled = plait.compile(lp.Writer())
    first = compiled.run([{"topic": "tea"}], store=store_path, lm=DownLM(), fallbacks=[healthy("backup")],
                         clock=plait.FakeClock(), retry=plait.RetryPolicy(max_attempts=10), progress=False)
    assert first.status == "done" and first.outputs[0].final["draft"].startswith("backup:")
    primary = healthy("primary")
    again = plait.resume(first.id, store=store_path, lm=primary, progress=False)
    assert primary.calls == 0 and again.outputs == first.outputs
    fresh = compiled.run([{"topic": "tea"}], store=store_path, lm=primary, progress=False)
    assert primary.calls == 3 and fresh.outputs[0].final["draft"].startswith("primary:")


def test_rows_from_before_replay_keys_still_replay_by_their_content_key(originals, tmp_path):
    """A store written by plait before schema 4 has no replay keys: its rows replay as they did then,
    under the LM that made them or a fallback the resume lists."""
    store = str(tmp_path / "runs.db")
    shutil.copy(originals["finished"], store)
    conn = sqlite3.connect(store)
    conn.execute("UPDATE journal SET replay_key = NULL")  # what the migration leaves in older rows
    conn.commit()
    conn.close()
    run_id, recorded, _ = journal(store)
    lms = [healthy("primary"), healthy("backup")]
    run = plait.resume(run_id, store=store, lm=lms[0], fallbacks=[lms[1]], progress=False)
    assert run.stats.lm_calls == 0 and run.stats.replayed == 10 and lms[0].calls == lms[1].calls == 0
    assert [dict(r.outputs) for r in run.items] == [recorded[(f"i{i}", "outputs")] for i in range(5)]

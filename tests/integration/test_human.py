"""People in the loop (DESIGN.md contract 6): items wait durably for answers, others go on, each
question is asked exactly once, answers are validated, and resuming re-runs no earlier node."""

import sqlite3
import time

import pytest

import plait
from plait.runtime import events as ev
from tests.human_programs import GATE_LOG, Gated, Reviewed, draft_lm

TOPICS = [{"topic": t} for t in ("cats", "dogs", "owls")]


def _item_statuses(store_path, run_id):
    rows = sqlite3.connect(store_path).execute(
        "SELECT item_id, status FROM items WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)", (run_id,))
    return dict(rows.fetchall())


def test_items_wait_for_a_human_node_and_resume_replays_the_answer(store_path):
    lm = draft_lm()
    events = []
    run = plait.compile(Reviewed()).run(TOPICS, store=store_path, lm=lm, on_event=events.append)
    assert run.status == "waiting" and [r.status for r in run.items] == ["waiting"] * 3
    assert run.failed == [] and lm.calls == 3
    assert _item_statuses(store_path, run.id) == {"0": "waiting", "1": "waiting", "2": "waiting"}
    assert sum(isinstance(e, ev.ItemWaiting) for e in events) == 3
    waiting = run.pending()
    assert [(q.item_id, q.node_id, q.ask) for q in waiting] == [(i, "reviewed.review", 0) for i in "012"]
    assert waiting[0].question == "Is this draft good enough to publish?"
    assert waiting[0].context == {"draft": "about cats"}
    assert waiting[0].expected == {"approved": "bool", "comment": "str"}
    plait.answer(run.id, "0", "reviewed.review", {"approved": True, "comment": "fine"}, store=store_path)
    plait.answer(run.id, "2", "reviewed.review", {"approved": "no", "comment": "dull"}, store=store_path)
    assert _item_statuses(store_path, run.id)["0"] == "pending"
    resumed = plait.resume(run.id, store=store_path, lm=lm)
    assert lm.calls == 3  # the drafts replay: no earlier node runs again
    assert resumed.status == "waiting" and [r.status for r in resumed.items] == ["done", "waiting", "done"]
    assert resumed.outputs[0].final == "PUBLISHED: about cats (fine)"
    assert resumed.outputs[2].final == "REJECTED: about owls (dull)"
    assert resumed.stats.answers == 2 and resumed.stats.lm_calls == 0
    assert [q.item_id for q in plait.pending(run.id, store=store_path)] == ["1"]


def test_other_items_finish_while_one_waits(store_path):
    class Sometimes(plait.Module):
        def __init__(self):
            self.inner = Reviewed(timeout=3600, default={"approved": False, "comment": "late"})

        def forward(self, topic: str):
            return self.inner(topic=topic)

    lm = draft_lm()
    compiled = plait.compile(Sometimes())
    first = compiled.run(TOPICS[:1], store=store_path, lm=lm)
    plait.answer(first.id, "0", "sometimes.inner.review", {"approved": True, "comment": "ok"}, store=store_path)
    done = plait.resume(first.id, store=store_path, lm=lm)
    assert done.status == "done" and done.outputs[0].final == "PUBLISHED: about cats (ok)"
    # A second, failing item and a waiting one: neither hides the other's fate.
    failing = plait.ScriptedLM(lambda t: "garbage" if t.inputs["topic"] == "dogs" else {"draft": t.inputs["topic"]})
    mixed = compiled.run(TOPICS, store=store_path, lm=failing, parse_retries=0)
    assert [r.status for r in mixed.items] == ["waiting", "failed", "waiting"]
    assert mixed.status == "waiting" and len(mixed.failed) == 1


def test_a_bad_answer_is_refused_with_a_clear_message_and_the_item_keeps_waiting(store_path):
    run = plait.compile(Reviewed()).run(TOPICS[:1], store=store_path, lm=draft_lm())
    with pytest.raises(plait.AnswerError) as err:
        plait.answer(run.id, "0", "reviewed.review", {"approved": "perhaps", "comment": "hm"}, store=store_path)
    message = str(err.value)
    assert "does not fit field 'approved'" in message and "node 'reviewed.review'" in message
    assert "expected: bool" in message and "'perhaps'" in message and "human_programs.py:" in message
    assert "fix: answer again with approved: bool, comment: str; the item keeps waiting" in message
    with pytest.raises(plait.AnswerError, match="field 'comment'.*\n.*\n.*\n  found:    nothing"):
        plait.answer(run.id, "0", "reviewed.review", {"approved": True}, store=store_path)
    with pytest.raises(plait.AnswerError, match="unknown field 'aproved'"):
        plait.answer(run.id, "0", "reviewed.review", {"aproved": True, "comment": ""}, store=store_path)
    with pytest.raises(plait.AnswerError, match="no question of run .* node 'reviewed.write'") as err:
        plait.answer(run.id, "0", "reviewed.write", {"draft": "x"}, store=store_path)
    assert "item 0 node reviewed.review ask 0" in str(err.value)
    assert [q.item_id for q in plait.pending(run.id, store=store_path)] == ["0"]
    plait.answer(run.id, "0", "reviewed.review", {"approved": 1, "comment": "ok"}, store=store_path)
    with pytest.raises(plait.AnswerError, match="already answered"):
        plait.answer(run.id, "0", "reviewed.review", {"approved": False, "comment": "changed"}, store=store_path)


def test_two_questions_in_one_step_are_each_asked_exactly_once(store_path):
    GATE_LOG.clear()
    lm = draft_lm()
    run = plait.compile(Gated()).run(TOPICS[:2], store=store_path, lm=lm)
    assert [(q.item_id, q.ask, q.question) for q in run.pending()] == [
        ("0", 0, "Publish this draft?"), ("1", 0, "Publish this draft?")]
    assert run.pending()[0].context == {"draft": "about cats"}  # the step's inputs
    plait.answer(run.id, "0", "gated.publish", True, store=store_path)
    plait.answer(run.id, "1", "gated.publish", False, store=store_path)
    second = plait.resume(run.id, store=store_path, lm=lm)
    assert [r.status for r in second.items] == ["waiting", "done"]
    assert second.outputs[1].result == "rejected: about dogs"
    waiting = second.pending()
    assert [(q.item_id, q.ask, q.question) for q in waiting] == [("0", 1, "What title?")]  # not ask 0 again
    plait.resume(run.id, store=store_path, lm=lm)  # no answer yet: still waiting, nothing asked twice
    assert len(plait.pending(run.id, store=store_path)) == 1
    plait.answer(run.id, "0", "gated.publish", "Cats!", ask=1, store=store_path)
    third = plait.resume(run.id, store=store_path, lm=lm)
    assert third.status == "done" and third.outputs[0].result == "Cats!: about cats"
    assert lm.calls == 2
    asks = sqlite3.connect(store_path).execute("SELECT item_id, ask_index, answer FROM asks ORDER BY 1, 2").fetchall()
    assert asks == [("0", 0, '{"answer": true}'), ("0", 1, '{"answer": "Cats!"}'), ("1", 0, '{"answer": false}')]
    # Item 0's step body: first run, resume (approved, asks the title), resume (no answer), resume (done).
    assert GATE_LOG.count("start about cats") == 4 and GATE_LOG.count("published about cats") == 1
    fourth = plait.resume(run.id, store=store_path, lm=lm)  # the step is journaled now: it replays
    assert fourth.stats.replayed == 4 and GATE_LOG.count("start about cats") == 4


def test_a_step_that_asked_is_never_reused_by_another_run(store_path):
    lm = draft_lm()
    first = plait.compile(Gated()).run(TOPICS[:1], store=store_path, lm=lm)
    plait.answer(first.id, "0", "gated.publish", False, store=store_path)
    plait.resume(first.id, store=store_path, lm=lm)
    second = plait.compile(Gated()).run(TOPICS[:1], store=store_path, lm=lm)
    assert second.status == "waiting" and second.stats.cache_hits == 1  # the draft, not the approval


def test_an_unanswered_question_past_its_deadline_takes_the_default(store_path):
    lm = draft_lm()
    compiled = plait.compile(Reviewed(timeout=0.2, default={"approved": False, "comment": "no reply"}))
    run = compiled.run(TOPICS[:2], store=store_path, lm=lm)
    assert run.status == "waiting"
    assert all(q.deadline == pytest.approx(time.time() + 0.2, abs=5) for q in run.pending())
    plait.answer(run.id, "0", "reviewed.review", {"approved": True, "comment": "in time"}, store=store_path)
    time.sleep(0.25)
    resumed = plait.resume(run.id, store=store_path, lm=lm)
    assert resumed.status == "done" and lm.calls == 2
    assert resumed.outputs[0].final == "PUBLISHED: about cats (in time)"
    assert resumed.outputs[1].final == "REJECTED: about dogs (no reply)"
    by = sqlite3.connect(store_path).execute("SELECT item_id, answered_by FROM asks ORDER BY 1").fetchall()
    assert by == [("0", "human"), ("1", "default")]
    with pytest.raises(plait.AnswerError, match=r"already answered(.|\n)*answered by default"):
        plait.answer(run.id, "1", "reviewed.review", {"approved": True, "comment": "late"}, store=store_path)


def test_a_zero_timeout_answers_with_the_default_at_once(store_path):
    @plait.step
    def gate(draft: str) -> str:
        return draft if plait.approve("Ship?", timeout=0, default=True) else "held"

    class Auto(plait.Module):
        def __init__(self):
            self.write = plait.Predict("topic -> draft")

        def forward(self, topic: str):
            return {"out": gate(draft=self.write(topic=topic).draft)}

    run = plait.compile(Auto()).run(TOPICS[:1], store=store_path, lm=draft_lm())
    assert run.status == "done" and run.outputs[0].out == "about cats"


def test_answers_are_keyed_by_iteration_as_well(store_path):
    from plait.checkpoints.asking import AskBook, HumanWait
    from plait.ir.nodes import Field

    store = plait.SQLiteStore(store_path)
    book = AskBook(store, "r", owner=None)
    fields = (Field("answer", bool),)
    for iteration in (0, 1):
        with book.scope("0", "loop.step", {"i": iteration}, iteration=iteration) as scope:
            with pytest.raises(HumanWait):
                scope.ask("Go on?", fields)
    assert [(q.iteration, q.context) for q in store.asks("r")] == [(0, {"i": 0}), (1, {"i": 1})]
    store.answer_ask(("r", "0", "loop.step", 1, 0), {"answer": True}, "human")
    with AskBook(store, "r", None).scope("0", "loop.step", {}, iteration=1) as scope:
        assert scope.ask("Go on?", fields) == {"answer": True}
    with AskBook(store, "r", None).scope("0", "loop.step", {}, iteration=0) as scope, pytest.raises(HumanWait):
        scope.ask("Go on?", fields)


QUESTION = ["Publish this?"]


@plait.step
def changing(draft: str) -> str:
    return draft if plait.approve(QUESTION[0]) else "no"


class Changing(plait.Module):
    def __init__(self):
        self.write = plait.Predict("topic -> draft")

    def forward(self, topic: str):
        return {"out": changing(draft=self.write(topic=topic).draft)}


def test_a_step_that_asks_another_question_on_resume_fails_with_the_fix(store_path):
    run = plait.compile(Changing()).run(TOPICS[:1], store=store_path, lm=draft_lm())
    QUESTION[0] = "Publish that?"
    try:
        resumed = plait.resume(run.id, store=store_path, lm=draft_lm())
    finally:
        QUESTION[0] = "Publish this?"
    message = resumed.items[0].error
    assert resumed.status == "failed" and "ask #0 of node 'changing.changing' asks a different question" in message
    assert "expected: 'Publish this?'" in message and "found:    'Publish that?'" in message
    assert f"plait rerun {run.id} --from changing.changing" in message and "test_human.py:" in message


def test_a_default_of_the_wrong_type_fails_the_item_with_a_clear_message(store_path):
    @plait.step
    def bad_default(draft: str) -> str:
        return plait.ask("How many?", type=int, timeout=60, default="many")

    class Bad(plait.Module):
        def __init__(self):
            self.write = plait.Predict("topic -> draft")

        def forward(self, topic: str):
            return {"out": bad_default(draft=self.write(topic=topic).draft)}

    run = plait.compile(Bad()).run(TOPICS[:1], store=store_path, lm=draft_lm())
    message = run.items[0].error
    assert "the default answer of a question in node 'bad.bad_default' is not of type int" in message
    assert "expected: int" in message and "found:    'many'" in message and "test_human.py:" in message


def test_without_a_store_the_run_still_lists_what_waits(store_path):
    compiled = plait.compile(Reviewed())
    run = compiled.run(TOPICS[:1], store=False, lm=draft_lm())
    assert run.status == "waiting" and [q.context for q in run.pending()] == [{"draft": "about cats"}]
    plait.configure(lm=draft_lm())
    with pytest.raises(plait.PlaitError, match="waits for a person's answer at node 'reviewed.review'"):
        compiled(topic="cats")


class TwoReviews(plait.Module):
    """Two people review the same draft in parallel branches."""

    def __init__(self):
        self.write = plait.Predict("topic -> draft")
        self.legal = plait.HumanInput("draft -> legal_ok: bool")
        self.style = plait.HumanInput("draft -> style_ok: bool")

    def forward(self, topic: str):
        draft = self.write(topic=topic).draft
        return {"legal": self.legal(draft=draft).legal_ok, "style": self.style(draft=draft).style_ok}


def test_parallel_questions_of_one_item_are_asked_together_and_each_once(store_path):
    lm = draft_lm()
    run = plait.compile(TwoReviews()).run(TOPICS[:2], store=store_path, lm=lm)
    assert sorted((q.item_id, q.node_id) for q in run.pending()) == [
        ("0", "two_reviews.legal"), ("0", "two_reviews.style"), ("1", "two_reviews.legal"), ("1", "two_reviews.style")]
    plait.answer(run.id, "0", "two_reviews.legal", True, store=store_path)
    again = plait.resume(run.id, store=store_path, lm=lm)
    assert again.status == "waiting" and len(again.pending()) == 3 and again.stats.answers == 1
    for item, node in (("0", "style"), ("1", "legal"), ("1", "style")):
        plait.answer(run.id, item, f"two_reviews.{node}", item == "0", store=store_path)
    done = plait.resume(run.id, store=store_path, lm=lm)
    assert done.status == "done" and lm.calls == 2
    assert [dict(o) for o in done.outputs] == [{"legal": True, "style": True}, {"legal": False, "style": False}]


def test_an_item_whose_parallel_branches_both_fail_is_counted_once(store_path):
    from tests.programs import Diamond

    lm = plait.ScriptedLM(lambda t: "garbage" if t.node_id in ("diamond.left", "diamond.right")
                          else {k: "x" for k in t.output_fields}, latency=0.02)
    run = plait.compile(Diamond()).run([{"question": f"q{i}"} for i in range(3)], store=store_path, lm=lm,
                                       parse_retries=0, concurrency=1)
    assert [r.status for r in run.items] == ["failed"] * 3 and run.status == "failed"

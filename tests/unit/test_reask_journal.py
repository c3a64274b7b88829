"""A node re-asking for a well-formed reply journals each reply before the re-ask goes out
(plait/runtime/nodes.py, journal.py), so a process killed while it re-asks repeats only the call in
flight (DESIGN.md contract 4), and what the resumed run records equals an uninterrupted run's.

The "kill" is the run's task cancelled while the LM call in flight never returns (what Ctrl-C does);
tests/crash/test_optimize_resume.py kills real processes with SIGKILL."""

from __future__ import annotations

import asyncio
import json

import dspy
import pytest

import plait
from plait.checkpoints.spend import total_spend
from plait.checkpoints.location import open_location
from plait.lm.adapters import adapter_named
from plait.lm.protocol import LMError, LMRequest, LMResponse, Usage
from tests import loop_programs as lp
from tests.stores import execute

ITEM = {"question": "stone"}
CORRECTION = "Your reply could not be used"


class Ask(plait.Module):
    def __init__(self):
        self.ask = plait.Predict("question -> answer")

    def forward(self, question: str):
        return self.ask(question=question)


class ReAsked(plait.ScriptedLM):
    """Replies 'garbage' (which does not parse) until it has been asked again ``bad`` times, a
    function of the request as a real LM's reply is, with tokens and a cost; its call number
    ``hang_at`` never returns (the process is killed during it), ``fail_at`` fails transiently."""

    def __init__(self, bad: int, hang_at: int = 0, fail_at: int = 0, answer=None):
        super().__init__(answer or (lambda task: {"answer": task.inputs["question"][::-1]}))
        self.bad, self.hang_at, self.fail_at = bad, hang_at, fail_at
        self.in_flight = asyncio.Event()

    async def acall(self, request: LMRequest) -> LMResponse:
        if self.calls + 1 == self.hang_at:
            self.calls += 1
            self.in_flight.set()
            await asyncio.Event().wait()
        if self.calls + 1 == self.fail_at:
            self.calls += 1
            raise LMError("503 from the provider", transient=True)
        reasks = sum(CORRECTION in m["content"] for m in request.messages)
        if reasks < self.bad:
            self.calls += 1
            return LMResponse(f"garbage {reasks}", Usage(10 + reasks, 2, 0.25))
        return await super().acall(request)


RUN_OPTIONS = {"retry": plait.RetryPolicy(initial=0.001, maximum=0.001), "parse_retries": 2}


def killed(store: str, lm: ReAsked, start=None, item: dict = ITEM) -> str:
    """A run (``start``; default: of Ask) over ``item`` killed while ``lm``'s call ``hang_at`` is in
    flight; its run id."""
    start = start or plait.compile(Ask()).arun

    async def main() -> None:
        task = asyncio.create_task(start([item], store=store, lm=lm, **RUN_OPTIONS))
        await lm.in_flight.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    opened = open_location(store)
    try:
        (run,) = opened.list_runs()
    finally:
        opened.close()
    return run.run_id


def recorded(store: str, run_id: str, step: tuple[str, int] = ("ask.ask", 0)) -> tuple:
    """What the run's journal says of its LM step (node, iteration): status, attempts, usage, LM,
    value (or failure), error and the run's spend."""
    opened = open_location(store)
    try:
        rows = opened.journal(run_id)
        row = rows[("0", *step)]
        value = json.loads(opened.read_value(row.value_hash)) if row.value_hash else None
        return row.status, row.attempts, row.usage, row.lm, value, row.error, total_spend(rows.values())
    finally:
        opened.close()


def values_held(store: str) -> int:
    """How many values the store holds: a node's replies, kept while it re-asks, go when it is recorded."""
    opened = open_location(store)
    try:
        return execute(opened, "SELECT COUNT(*) FROM blobs")[0][0]
    finally:
        opened.close()


def uninterrupted(tmp_path, bad: int, fail_at: int = 0) -> tuple:
    store = str(tmp_path / "uninterrupted.db")
    run = plait.compile(Ask()).run([ITEM], store=store, lm=ReAsked(bad, fail_at=fail_at), **RUN_OPTIONS)
    return recorded(store, run.id)


@pytest.mark.parametrize("bad, hang_at", [(1, 2), (2, 2), (2, 3)])
def test_a_kill_while_re_asking_repeats_only_the_call_in_flight(tmp_path, bad, hang_at, store_url):
    """On every kind of store (tests/stores.py: SQLite and PostgreSQL)."""
    store = store_url
    run_id = killed(store, ReAsked(bad, hang_at=hang_at))
    again = ReAsked(bad)
    resumed = plait.resume(run_id, store=store, lm=again, **RUN_OPTIONS)
    assert again.calls == bad + 2 - hang_at  # from the re-ask in flight at the kill on, nothing before it
    assert resumed.status == "done" and resumed.outputs[0].answer == "enots"
    assert recorded(store, run_id) == uninterrupted(tmp_path, bad)  # attempts, usage, LM, spend
    assert values_held(store) == values_held(str(tmp_path / "uninterrupted.db")) == 2  # the input, the answer


def test_a_kill_while_re_asking_a_reply_that_never_parses_records_the_same_failure(tmp_path):
    store = str(tmp_path / "runs.db")
    run_id = killed(store, ReAsked(9, hang_at=3))
    again = ReAsked(9)
    resumed = plait.resume(run_id, store=store, lm=again, **RUN_OPTIONS)
    assert again.calls == 1 and resumed.status == "failed"
    status, attempts, _, _, value, error, spent = recorded(store, run_id)
    assert value["raw"] == ["garbage 0", "garbage 1", "garbage 2"]
    assert (status, attempts, spent.requests) == ("failed", 3, 3)
    assert recorded(store, run_id) == uninterrupted(tmp_path, 9)  # the raw replies, the error, the remembered failure
    assert values_held(store) == values_held(str(tmp_path / "uninterrupted.db")) == 2  # the input, the failure


def test_a_transient_failure_after_a_re_ask_keeps_its_replies(tmp_path):
    store = str(tmp_path / "runs.db")
    run_id = killed(store, ReAsked(1, fail_at=2, hang_at=3))  # garbage, a 503, then killed during the retry
    again = ReAsked(1)
    plait.resume(run_id, store=store, lm=again, **RUN_OPTIONS)
    assert again.calls == 1
    assert recorded(store, run_id) == uninterrupted(tmp_path, 1, fail_at=2)


def test_a_resume_with_reset_attempts_forgets_the_replies(tmp_path):
    store = str(tmp_path / "runs.db")
    run_id = killed(store, ReAsked(1, hang_at=2))
    again = ReAsked(1)
    plait.resume(run_id, store=store, lm=again, reset_attempts=True, **RUN_OPTIONS)
    assert again.calls == 2  # asked from the start: the garbage, then the answer
    status, attempts, *_, spent = recorded(store, run_id)
    assert (status, attempts, spent.requests) == ("ok", 3, 3)  # the first process's reply still counts
    assert values_held(store) == 2  # the forgotten replies too


def test_a_recorded_reply_that_parses_now_is_the_answer(tmp_path, monkeypatch):
    """An adapter that reads the recorded reply now (a newer plait, say): no LM call at all."""
    store = str(tmp_path / "runs.db")
    run_id = killed(store, ReAsked(1, hang_at=2))
    monkeypatch.setattr(type(adapter_named("chat")), "parse", lambda self, signature, text: {"answer": text})
    again = ReAsked(1)
    resumed = plait.resume(run_id, store=store, lm=again, **RUN_OPTIONS)
    assert again.calls == 0 and resumed.outputs[0].answer == "garbage 0"
    status, attempts, usage, lm, *_ = recorded(store, run_id)
    assert (status, attempts, usage, lm) == ("ok", 1, {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.25},
                                             "scripted")


def test_a_node_resumed_while_re_asking_asks_again_whatever_its_attempts(tmp_path):
    """Re-asks are bounded by parse_retries, not by the retry policy's max_attempts: as without the kill."""
    store, options = str(tmp_path / "runs.db"), {**RUN_OPTIONS, "retry": plait.RetryPolicy(max_attempts=1)}
    run_id = killed(store, ReAsked(1, hang_at=2))
    again = ReAsked(1)
    assert plait.resume(run_id, store=store, lm=again, **options).status == "done" and again.calls == 1


def drafts(task) -> dict:
    return {"draft": f"draft {len(task.inputs['trajectory'])}"}


def test_a_kill_while_a_loop_iteration_re_asks_repeats_only_the_call_in_flight(tmp_path):
    """Each iteration's draft is re-asked once; the kill lands in the second iteration's re-ask."""
    store, item = str(tmp_path / "runs.db"), {"topic": "rain"}
    start = plait.compile(lp.Writer()).arun
    run_id = killed(store, ReAsked(1, hang_at=4, answer=drafts), start, item)
    again = ReAsked(1, answer=drafts)
    resumed = plait.resume(run_id, store=store, lm=again, **RUN_OPTIONS)
    assert resumed.status == "done" and again.calls == 3  # the re-ask in flight, then the third iteration's two
    reference = plait.compile(lp.Writer()).run([item], store=str(tmp_path / "reference.db"),
                                               lm=ReAsked(1, answer=drafts), **RUN_OPTIONS)
    for i in (1, 2, 3):
        assert recorded(store, run_id, ("writer.critic", i)) == recorded(str(tmp_path / "reference.db"), reference.id,
                                                                     ("writer.critic", i))
    assert values_held(store) == values_held(str(tmp_path / "reference.db"))


class AskDSPy(dspy.Module):
    def __init__(self):
        self.ask = dspy.Predict("question -> answer")

    def forward(self, question: str):
        return self.ask(question=question)


def test_a_kill_while_a_journaled_dspy_call_re_asks_repeats_only_the_call_in_flight(tmp_path):
    store = str(tmp_path / "runs.db")
    run_id = killed(store, ReAsked(2, hang_at=2), plait.durable(AskDSPy()).arun)
    again = ReAsked(2)
    resumed = plait.durable(AskDSPy()).resume(run_id, store=store, lm=again, **RUN_OPTIONS)
    assert resumed.status == "done" and again.calls == 2  # the re-ask in flight, and the one after it
    reference = plait.durable(AskDSPy()).run([ITEM], store=str(tmp_path / "reference.db"), lm=ReAsked(2), **RUN_OPTIONS)
    opened = open_location(store)
    (step,) = [k[1:] for k, row in opened.journal(run_id).items() if row.source == "lm"]
    opened.close()
    assert recorded(store, run_id, step) == recorded(str(tmp_path / "reference.db"), reference.id, step)
    assert values_held(store) == values_held(str(tmp_path / "reference.db"))

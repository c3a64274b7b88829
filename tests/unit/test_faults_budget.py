"""Budgets: a run stops cleanly at its limit, keeps what it recorded, and resumes with a larger one."""

import sqlite3

import pytest

import plait
from plait.lm.protocol import LMResponse, Usage
from plait.runtime import events as ev
from tests.programs import Chain4, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(12)]


def ok_rows(store_path, run_id):
    return sqlite3.connect(store_path).execute(
        "SELECT item_id, node_id, content_key, value_hash, attempts, recorded_at FROM journal"
        " WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?) AND status='ok' AND source='lm'"
        " ORDER BY item_id, node_id", (run_id,)).fetchall()


def test_the_run_stops_at_its_call_budget_and_keeps_what_it_recorded(store_path, echo_lm):
    events = []
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=echo_lm, concurrency=4,
                                      budget=plait.Budget(lm_calls=10), on_event=events.append)
    assert run.status == "stopped" and echo_lm.calls == 10
    assert run.stop_reason == ("the run's budget of 10 LM calls is reached: 10 requests sent to an LM, answered or "
                               "not; resume with a larger plait.Budget(lm_calls=...) to go on")
    assert run.stats.lm_requests == run.stats.lm_answered == run.stats.lm_calls == 10  # no fault: all three agree
    assert {r.status for r in run.items} <= {"done", "interrupted"} and not run.failed
    assert len(ok_rows(store_path, run.id)) == 10
    assert [e for e in events if isinstance(e, ev.BudgetExhausted)] == [
        ev.BudgetExhausted(run.id, "lm_calls", 10, 10)]
    status = sqlite3.connect(store_path).execute("SELECT status FROM runs WHERE run_id=?", (run.id,)).fetchone()
    assert status == ("stopped",)


def test_resume_with_a_larger_budget_goes_on_and_changes_nothing_recorded(store_path, echo_lm):
    compiled = plait.compile(Chain4())
    run = compiled.run(ITEMS, store=store_path, lm=echo_lm, concurrency=4, budget=plait.Budget(lm_calls=10))
    before = ok_rows(store_path, run.id)
    same = plait.resume(run.id, store=store_path, lm=echo_lm, budget=plait.Budget(lm_calls=10))
    assert same.status == "stopped" and echo_lm.calls == 10  # the budget is the run's total, across resumes
    more = plait.resume(run.id, store=store_path, lm=echo_lm, budget=plait.Budget(lm_calls=30), concurrency=4)
    assert more.status == "stopped" and echo_lm.calls == 30
    done = plait.resume(run.id, store=store_path, lm=echo_lm, budget=plait.Budget(lm_calls=100))
    assert done.status == "done" and echo_lm.calls == 48
    assert set(before) <= set(ok_rows(store_path, run.id))
    assert done.outputs == compiled.run(ITEMS, store=False, lm=plait.ScriptedLM(echo_answer)).outputs


class Priced(plait.ScriptedLM):
    """Reports 100 tokens and one cent per call."""

    async def acall(self, request):
        response = await super().acall(request)
        return LMResponse(response.text, Usage(80, 20, 0.01))


@pytest.mark.parametrize("budget, calls", [(plait.Budget(tokens=1000), 10), (plait.Budget(cost=0.045), 5)])
def test_token_and_cost_budgets(store_path, budget, calls):
    lm = Priced(echo_answer)
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=lm, concurrency=1, budget=budget)
    assert run.status == "stopped" and lm.calls == calls
    assert run.stats.prompt_tokens + run.stats.completion_tokens == 100 * calls


def test_calls_in_flight_finish_and_are_recorded(store_path):
    lm = plait.ScriptedLM(echo_answer, latency=0.01)
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=lm, concurrency=8, budget=plait.Budget(lm_calls=20))
    assert run.status == "stopped" and lm.calls == 20 and len(ok_rows(store_path, run.id)) == 20


def test_a_run_that_finishes_within_its_budget_is_done(store_path, echo_lm):
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=echo_lm, budget=plait.Budget(lm_calls=48))
    assert run.status == "done" and run.stop_reason is None


def test_an_invalid_budget_says_what_is_wrong():
    with pytest.raises(plait.PlaitError) as info:
        plait.Budget(lm_calls=-1)
    assert str(info.value) == ("Budget: invalid lm_calls\n  at field 'lm_calls'\n  expected: a number >= 0, or None\n"
                               "  found:    -1\n  fix: pass lm_calls= a non-negative number")

"""A budget's LM calls are requests sent, answered or not; the stop message and run.stats name the
requests, the answered ones and the nodes an LM computed apart."""

from __future__ import annotations

import pytest

import plait
from plait.lm.protocol import LMResponse, Usage
from plait.runtime import events as ev
from tests.programs import Chain4, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(6)]
FAST = plait.RetryPolicy(initial=0.01, max_attempts=10)


def test_failed_requests_count_against_the_budget_and_the_stop_message_says_so(store_path):
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), error_rate=0.5, seed=3)
    events = []
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=lm, retry=FAST, clock=plait.FakeClock(),
                                      concurrency=1, budget=plait.Budget(lm_calls=12), on_event=events.append)
    assert run.status == "stopped"
    assert run.stop_reason == ("the run's budget of 12 LM calls is reached: 12 requests sent to an LM, answered or "
                               "not; resume with a larger plait.Budget(lm_calls=...) to go on")
    stats = run.stats
    assert stats.lm_requests == lm.calls == 12 and stats.lm_answered == lm.answered
    assert 0 < stats.lm_answered < stats.lm_requests and stats.lm_nodes == stats.lm_answered  # no re-asks here
    called = [e for e in events if isinstance(e, ev.LMCalled)]
    assert len(called) == 12 and sum(not e.answered for e in called) == lm.injected["error"]
    assert stats.as_dict()["lm_requests"] == 12


def test_a_re_ask_is_a_request_and_an_answer_but_one_node(store_path):
    replies = iter(["no fields here"])
    lm = plait.ScriptedLM(lambda task: next(replies, None) or echo_answer(task))
    run = plait.compile(Chain4()).run(ITEMS[:1], store=store_path, lm=lm)
    assert run.status == "done"
    assert (run.stats.lm_requests, run.stats.lm_answered, run.stats.lm_nodes) == (5, 5, 4)


class Priced(plait.ScriptedLM):
    async def acall(self, request):
        response = await super().acall(request)
        return LMResponse(response.text, Usage(80, 20, 0.01))


@pytest.mark.parametrize("budget, message", [
    (plait.Budget(tokens=250), "the run's budget of 250 tokens is reached: 300 tokens used; "
                               "resume with a larger plait.Budget(tokens=...) to go on"),
    (plait.Budget(cost=0.025), "the run's budget of 0.025 in cost is reached: 0.03 spent; "
                               "resume with a larger plait.Budget(cost=...) to go on"),
])
def test_token_and_cost_stop_messages(store_path, budget, message):
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=Priced(echo_answer), concurrency=1, budget=budget)
    assert run.status == "stopped" and run.stop_reason == message


def test_a_resume_counts_its_own_requests_and_the_budget_counts_the_runs(store_path):
    lm = plait.ScriptedLM(echo_answer)
    compiled = plait.compile(Chain4())
    first = compiled.run(ITEMS, store=store_path, lm=lm, concurrency=1, budget=plait.Budget(lm_calls=10))
    more = plait.resume(first.id, store=store_path, lm=lm, concurrency=1, budget=plait.Budget(lm_calls=15))
    assert more.stats.lm_requests == 5 and lm.calls == 15
    assert more.stop_reason.startswith("the run's budget of 15 LM calls is reached: 15 requests sent")

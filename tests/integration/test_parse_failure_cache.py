"""A reply that never parsed is remembered by content key: evaluating again does not re-ask it.

Only deterministic parse failures are cached, and a cached one replays only when it was given at
least as many re-asks as the new run allows; transient LM failures are never cached.
"""

import plait
from plait.lm.protocol import LMError
from tests.programs import Chain4, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(4)]


def malformed_for_q2(task):
    if task.node_id == "chain4.n2" and "q2" in task.inputs["a"]:
        return "I refuse to use your format."
    return echo_answer(task)


def run(lm, store_path, **options):
    return plait.compile(Chain4()).run(ITEMS, store=store_path, lm=lm, progress=False, **options)


def test_a_repeated_run_replays_the_parse_failure_without_asking(store_path):
    lm = plait.ScriptedLM(malformed_for_q2)
    first = run(lm, store_path, parse_retries=1)
    assert first.items[2].status == "failed" and lm.calls == 3 * 4 + 1 + 2
    calls = lm.calls
    again = run(lm, store_path, parse_retries=1)
    assert lm.calls == calls  # nothing asked again: the good nodes by cache, the bad one by its failure
    assert again.items[2].status == "failed" and again.items[2].error == first.items[2].error
    assert "output field 'b'" in again.items[2].error and "I refuse" in again.items[2].error
    assert [r.status for r in again.items] == ["done", "done", "failed", "done"]


def test_more_reasks_than_were_recorded_ask_again(store_path):
    lm = plait.ScriptedLM(malformed_for_q2)
    run(lm, store_path, parse_retries=0)
    calls = lm.calls
    fewer = run(lm, store_path, parse_retries=0)
    assert lm.calls == calls and fewer.items[2].status == "failed"
    more = run(lm, store_path, parse_retries=2)
    assert lm.calls == calls + 3 and more.items[2].status == "failed"  # asked again, with two re-asks
    run(lm, store_path, parse_retries=1)  # recorded with 2 re-asks: enough for 1
    assert lm.calls == calls + 3


def test_transient_failures_are_not_cached(store_path):
    state = {"down": True}

    def sometimes_down(task):
        if state["down"] and "q1" in str(task.inputs):
            raise LMError("503 service unavailable", transient=True)
        return echo_answer(task)

    lm = plait.ScriptedLM(sometimes_down)
    policy = plait.RetryPolicy(max_attempts=1)
    first = run(lm, store_path, retry=policy)
    assert first.items[1].status == "failed"
    state["down"] = False
    again = run(lm, store_path, retry=policy)
    assert again.status == "done" and again.outputs[1].d == "d(c(b(a(q1))))"

"""plait.Faulty: seeded, reproducible faults for testing pipelines."""

import asyncio
import json
import sqlite3

import pytest

import plait
from plait.lm.faulty import MALFORMED
from plait.lm.protocol import LMRequest
from tests.programs import Chain4, echo_answer


def request(i: int) -> LMRequest:
    return LMRequest(messages=[{"role": "user", "content": f"question {i}"}])


def outcomes(lm: plait.Faulty, requests) -> list[str]:
    async def each():
        seen = []
        for r in requests:
            try:
                reply = await lm.acall(r)
                seen.append("malformed" if reply.text == MALFORMED else "ok")
            except plait.LMError as exc:
                seen.append(str(exc).split("(")[1][:8])
        return seen

    return asyncio.run(each())


def faulty(seed=0, **kwargs):
    inner = plait.ScriptedLM(lambda task: "fine")
    return plait.Faulty(inner, clock=plait.FakeClock(), seed=seed, **kwargs)


def test_the_same_seed_and_requests_meet_the_same_faults_in_any_order():
    requests = [request(i) for i in range(200)]
    a = outcomes(faulty(error_rate=0.2, rate_limit_rate=0.1, malformed_rate=0.1), requests)
    b = outcomes(faulty(error_rate=0.2, rate_limit_rate=0.1, malformed_rate=0.1), requests[::-1])[::-1]
    c = outcomes(faulty(seed=1, error_rate=0.2, rate_limit_rate=0.1, malformed_rate=0.1), requests)
    assert a == b != c


def test_rates_are_probabilities_per_call():
    lm = faulty(error_rate=0.2)
    outcomes(lm, [request(i) for i in range(2000)])
    assert 340 < lm.injected["error"] < 460 and lm.answered == 2000 - lm.injected["error"]


def test_a_repeated_request_gets_a_fresh_draw():
    lm = faulty(error_rate=0.5)
    assert len(set(outcomes(lm, [request(0)] * 20))) == 2


def test_429s_carry_retry_after_and_fatal_errors_are_not_transient():
    async def first_error(lm):
        with pytest.raises(plait.LMError) as info:
            await lm.acall(request(0))
        return info.value

    limited = asyncio.run(first_error(faulty(rate_limit_rate=1.0, retry_after=2.5)))
    assert limited.transient and limited.retry_after == 2.5 and "HTTP 429" in str(limited)
    fatal = asyncio.run(first_error(faulty(fatal_rate=1.0)))
    assert not fatal.transient and "HTTP 400" in str(fatal)


def test_outage_windows_are_relative_to_start_on_the_clock():
    clock = plait.FakeClock(start=100.0)
    lm = plait.Faulty(plait.ScriptedLM(lambda task: "fine"), outages=[(10, 20)], clock=clock)
    assert [lm.in_outage(100 + t) for t in (0, 9.9, 10, 19.9, 20)] == [False, False, True, True, False]


def test_latency_is_fixed_drawn_or_computed_and_waits_on_the_clock():
    for latency, check in [(0.5, lambda s: s == 0.5), ((1.0, 0.2), lambda s: 0.8 <= s <= 1.2),
                           (lambda rng: 3.0, lambda s: s == 3.0)]:
        lm = faulty(latency=latency)
        outcomes(lm, [request(i) for i in range(20)])
        assert all(map(check, lm.clock.sleeps)) and len(lm.clock.sleeps) == 20


def test_the_identity_is_the_inner_lm_s():
    inner = plait.ScriptedLM(echo_answer, name="x")
    assert plait.Faulty(inner, error_rate=0.5).identity() == inner.identity()


def test_malformed_replies_are_reasked(store_path):
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), malformed_rate=0.3, seed=4)
    run = plait.compile(Chain4()).run([{"question": f"q{i}"} for i in range(10)], store=store_path, lm=lm,
                                      parse_retries=5)
    assert run.status == "done" and lm.injected["malformed"] > 3
    assert run.outputs[3].d == "d(c(b(a(q3))))"


def test_always_malformed_fails_the_node_with_the_raw_text_kept(store_path):
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), malformed_rate=1.0)
    run = plait.compile(Chain4()).run([{"question": "q"}], store=store_path, lm=lm, parse_retries=2)
    err = run.items[0].exception
    assert isinstance(err, plait.OutputParseError) and lm.calls == 3
    assert err.node == "chain4.n1" and err.field == "a" and err.expected == "str" and err.raw == MALFORMED
    text = str(err)
    assert "node 'chain4.n1'" in text and "output field 'a'" in text and "programs.py:" in text
    assert "Sorry, I can't help with that" in text and "fix:" in text
    raw = sqlite3.connect(store_path).execute(
        "SELECT b.data FROM journal j JOIN blobs b ON b.hash = j.value_hash"
        " WHERE j.run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND j.node_id=?",
        (run.id, "chain4.n1")).fetchone()[0]
    assert json.loads(raw)["raw"] == [MALFORMED] * 3


def test_settings_of_the_inner_lm_show_through_the_wrapper():
    inner = plait.ScriptedLM(echo_answer)
    inner.retry = plait.RetryPolicy(max_attempts=2)
    wrapped = plait.Faulty(inner)
    assert wrapped.retry is inner.retry and not hasattr(wrapped, "breaker")

"""Rate limits: token buckets per LM, shared by every concurrent node and run, on a fake clock."""

import asyncio

import pytest

import plait
from plait.lm.protocol import LMRequest, Usage
from plait.runtime.ratelimit import estimate_tokens
from tests.programs import Chain4, echo_answer


def test_requests_per_minute_paces_calls_in_the_order_they_ask():
    limit = plait.RateLimit(requests_per_minute=60)
    assert [limit.reserve(0, now=0.0) for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]
    assert limit.reserve(0, now=100.0) == 0.0  # refilled, but never above the burst


def test_burst_allows_that_many_seconds_of_calls_at_once():
    limit = plait.RateLimit(requests_per_minute=60, burst=5)
    assert [limit.reserve(0, now=0.0) for _ in range(6)] == [0, 0, 0, 0, 0, 1.0]


def test_tokens_per_minute_waits_for_the_tokens_and_is_corrected_by_the_usage():
    limit = plait.RateLimit(tokens_per_minute=600)  # 10 tokens a second, 10 at once
    assert limit.reserve(100, now=0.0) == pytest.approx(9.0)
    limit.settle(100, Usage(prompt_tokens=30, completion_tokens=20))  # used 50: 50 come back
    assert limit.reserve(0, now=0.0) == pytest.approx(4.0)


def test_the_token_estimate_is_a_quarter_of_the_characters_plus_max_tokens():
    request = LMRequest(messages=[{"role": "user", "content": "x" * 400}], settings={"max_tokens": 50})
    assert estimate_tokens(request) == 150


class Stamped(plait.ScriptedLM):
    """Records the fake time of every call."""

    def __init__(self, clock, **kwargs):
        super().__init__(echo_answer, **kwargs)
        self.clock, self.times = clock, []

    async def acall(self, request):
        self.times.append(self.clock.now())
        return await super().acall(request)


def test_concurrent_nodes_share_one_lm_s_limit():
    clock = plait.FakeClock()
    lm = Stamped(clock)
    lm.rate_limit = plait.RateLimit(requests_per_minute=120)  # one call every 0.5 s after a burst of 2
    items = [{"question": f"q{i}"} for i in range(10)]
    run = plait.compile(Chain4()).run(items, store=False, lm=lm, clock=clock, concurrency=16)
    assert run.status == "done" and len(lm.times) == 40
    assert lm.times[:2] == [0.0, 0.0] and lm.times[-1] == pytest.approx(19.0)
    assert all(b - a == pytest.approx(0.5) for a, b in zip(lm.times[1:], lm.times[2:]))


def test_two_runs_at_once_share_the_limit_too():
    clock = plait.FakeClock()
    lm = Stamped(clock)
    lm.rate_limit = plait.RateLimit(requests_per_minute=60)
    compiled = plait.compile(Chain4())

    async def both():
        await asyncio.gather(*(compiled.arun([{"question": f"{who}{i}"} for i in range(3)], store=False, lm=lm,
                                             clock=clock) for who in "ab"))

    asyncio.run(both())
    assert len(lm.times) == 24 and lm.times[-1] == pytest.approx(23.0)


def test_a_run_option_sets_the_limit_by_lm_name():
    clock = plait.FakeClock()
    lm = Stamped(clock, name="fast")
    plait.compile(Chain4()).run([{"question": "q"}], store=False, lm=lm, clock=clock,
                                rate_limits={"fast": plait.RateLimit(requests_per_minute=6)})
    assert lm.times == [0.0, 10.0, 20.0, 30.0]


def test_invalid_limits_say_what_is_wrong():
    with pytest.raises(plait.PlaitError) as info:
        plait.RateLimit(requests_per_minute=0)
    assert "RateLimit: invalid requests_per_minute" in str(info.value)
    assert "expected: a number > 0 (or None)" in str(info.value)
    with pytest.raises(plait.PlaitError) as info:
        plait.compile(Chain4()).run([{"question": "q"}], store=False, lm=plait.ScriptedLM(echo_answer),
                                    rate_limits={"scripted": 60})
    assert "rate_limits= for LM 'scripted' is not a RateLimit" in str(info.value)
    assert "fix: pass rate_limits={'scripted': plait.RateLimit(...)}" in str(info.value)

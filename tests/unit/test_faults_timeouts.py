"""Timeouts per LM call (a transient failure, retried) and per node (retries included)."""

import asyncio

import plait
from plait.runtime import events as ev
from tests.programs import Chain4, echo_answer


class Slow(plait.ScriptedLM):
    """Takes ``delays[i]`` seconds (on ``clock``) for its i-th call, then the last delay forever."""

    def __init__(self, clock, delays, **kwargs):
        super().__init__(echo_answer, **kwargs)
        self.clock, self.delays, self.started = clock, list(delays), 0

    async def acall(self, request):
        delay = self.delays[min(self.started, len(self.delays) - 1)]
        self.started += 1
        await self.clock.sleep(delay)
        return await super().acall(request)


def test_a_call_that_times_out_is_retried(store_path):
    clock, events = plait.FakeClock(), []
    lm = Slow(clock, [100, 1])
    run = plait.compile(Chain4()).run([{"question": "q"}], store=store_path, lm=lm, clock=clock, timeout=5,
                                      on_event=events.append, retry=plait.RetryPolicy(initial=1, max_attempts=3))
    assert run.status == "done" and lm.started == 1 + 4 and lm.calls == 4  # the cut-off call never answered
    (retry,) = [e for e in events if isinstance(e, ev.NodeRetried)]
    assert retry.attempt == 1 and retry.reason == "LMError: LM 'scripted' did not answer within 5 s (the call timeout)"


def test_a_node_timeout_covers_its_retries(store_path):
    clock = plait.FakeClock()
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), error_rate=1.0, latency=2.0, clock=clock)
    run = plait.compile(Chain4()).run([{"question": "q"}], store=store_path, lm=lm, clock=clock,
                                      node_timeout={"chain4.n1": 30},
                                      retry=plait.RetryPolicy(initial=4, coefficient=1, jitter="none",
                                                              max_attempts=100))
    assert run.status == "failed" and clock.now() == 30 and lm.calls == 5  # every 6 s: a 2 s call, a 4 s wait
    error = run.items[0].error
    assert error.startswith("node 'chain4.n1' did not finish within its node_timeout of 30 s\n")
    assert "expected: an output within 30 s, retries and re-asks included" in error
    assert "found:    5 attempts in that time" in error and "fix: raise node_timeout= for this node" in error


def test_timeouts_work_on_the_real_clock_too(store_path):
    class Hangs(plait.ScriptedLM):
        async def acall(self, request):
            self.calls += 1
            await asyncio.sleep(10)

    lm = Hangs(echo_answer)
    run = plait.compile(Chain4()).run([{"question": "q"}], store=store_path, lm=lm, timeout=0.02,
                                      retry=plait.RetryPolicy(initial=0.01, max_attempts=2))
    assert run.status == "failed" and lm.calls == 2
    assert "after 2 attempts: LM 'scripted' did not answer within 0.02 s" in run.items[0].error


def test_an_lm_s_own_timeout_attribute_applies(store_path):
    clock = plait.FakeClock()
    lm = Slow(clock, [100])
    lm.timeout = 3
    run = plait.compile(Chain4()).run([{"question": "q"}], store=store_path, lm=lm, clock=clock,
                                      retry=plait.RetryPolicy(max_attempts=1))
    assert run.status == "failed" and clock.now() == 3
    assert "after 1 attempt: LM 'scripted' did not answer within 3 s" in run.items[0].error

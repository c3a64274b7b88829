"""The circuit breaker's states, and what a run does with them."""

import pytest

import plait
from plait.runtime import events as ev
from plait.runtime.breaker import CLOSED, HALF_OPEN, OPEN, default_breaker
from tests.programs import Chain4, echo_answer


def test_it_opens_after_consecutive_failures_and_fails_fast():
    breaker = plait.CircuitBreaker(failures=3, cooldown=10)
    assert breaker.record(False, 0) is None and breaker.record(True, 0) is None  # a success resets the count
    assert [breaker.record(False, t) for t in (1, 2, 3)] == [None, None, OPEN]
    assert not breaker.acquire(5) and breaker.retry_in(5) == 8


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes_it():
    breaker = plait.CircuitBreaker(failures=1, cooldown=10)
    breaker.record(False, 0)
    assert breaker.acquire(10) and breaker.state == HALF_OPEN
    assert not breaker.acquire(10)  # only one probe at a time
    assert breaker.record(True, 11) == CLOSED and breaker.acquire(11)


def test_a_failed_probe_opens_it_again_and_an_abandoned_one_lets_another_probe():
    breaker = plait.CircuitBreaker(failures=1, cooldown=10)
    breaker.record(False, 0)
    assert breaker.acquire(10)
    assert breaker.record(False, 12) == OPEN and not breaker.acquire(21) and breaker.acquire(22)
    breaker.abandon()
    assert breaker.acquire(22)


def test_the_refusal_is_transient_and_says_when_the_next_probe_is():
    breaker = plait.CircuitBreaker(failures=2, cooldown=30)
    breaker.record(False, 0), breaker.record(False, 0)
    refusal = breaker.refusal("primary", 12.0)
    assert refusal.transient and refusal.retry_after == 18.0
    assert str(refusal) == ("circuit breaker of LM 'primary' is open after 2 consecutive transient failures; "
                            "the next probe in 18 s")


def test_a_run_against_a_dead_lm_with_a_breaker_fails_fast_and_names_the_breaker(store_path):
    clock, events = plait.FakeClock(), []
    lm = plait.Faulty(plait.ScriptedLM(echo_answer, name="dead"), error_rate=1.0, clock=clock)
    lm.breaker = plait.CircuitBreaker(failures=2, cooldown=1000)
    items = [{"question": f"q{i}"} for i in range(5)]
    run = plait.compile(Chain4()).run(items, store=store_path, lm=lm, clock=clock, on_event=events.append,
                                      concurrency=1, retry=plait.RetryPolicy(initial=1, maximum=4, max_attempts=3))
    # the first item opens it with 2 calls; each later item waits for the cool-down, and only its
    # probe reaches the LM: 6 calls instead of 15
    assert run.status == "failed" and lm.calls == 2 + 4 and clock.now() >= 4 * 1000
    error = run.items[-1].error
    assert "LM 'dead' failed for node 'chain4.n1' after 3 attempts: circuit breaker of LM 'dead' is open" in error
    opened = [e for e in events if isinstance(e, ev.BreakerOpened)]
    assert opened[0] == ev.BreakerOpened(run.id, "dead", 2, 1000) and len(opened) == 1 + 4  # each failed probe


def test_a_refused_request_proves_the_provider_is_up(store_path):
    clock = plait.FakeClock()
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), fatal_rate=1.0, clock=clock)
    lm.breaker = plait.CircuitBreaker(failures=1)
    plait.compile(Chain4()).run([{"question": f"q{i}"} for i in range(4)], store=store_path, lm=lm, clock=clock)
    assert lm.breaker.state == CLOSED and lm.calls == 4


def test_an_lm_with_fallbacks_gets_a_breaker_by_default_and_breakers_can_be_set_per_run(store_path):
    clock = plait.FakeClock()
    primary = plait.Faulty(plait.ScriptedLM(echo_answer, name="p"), error_rate=1.0, clock=clock)
    backup = plait.ScriptedLM(echo_answer, name="b")
    run = plait.compile(Chain4()).run([{"question": "q"}], store=store_path, lm=primary, clock=clock,
                                      fallbacks={"p": [backup]}, retry=plait.RetryPolicy(max_attempts=10))
    assert run.status == "done" and primary.calls == 5 and backup.calls == 4  # the default: 5 failures
    clock2 = plait.FakeClock()
    primary2 = plait.Faulty(plait.ScriptedLM(echo_answer, name="p"), error_rate=1.0, clock=clock2)
    run = plait.compile(Chain4()).run([{"question": "q"}], store=False, lm=primary2, clock=clock2,
                                      breakers={"p": plait.CircuitBreaker(failures=1, cooldown=10)},
                                      retry=plait.RetryPolicy(max_attempts=2))
    assert run.status == "failed" and primary2.calls == 1  # the second attempt was refused
    assert "after 2 attempts: circuit breaker of LM 'p' is open" in run.items[0].error


def test_invalid_breakers_and_fallbacks_say_what_is_wrong():
    with pytest.raises(plait.PlaitError) as info:
        plait.CircuitBreaker(failures=0)
    text = str(info.value)
    assert "CircuitBreaker: invalid settings" in text and "found:    failures=0, cooldown=30" in text
    compiled, lm = plait.compile(Chain4()), plait.ScriptedLM(echo_answer)
    cases = [
        ({"fallbacks": {"gpt": [lm]}}, "fallbacks= names LM 'gpt', which no node of this pipeline uses",
         "expected: one of scripted"),
        ({"fallbacks": {"scripted": ["backup"]}}, "the fallback 'backup' of LM 'scripted' is not a configured LM name",
         "plait.configure(lms={...})"),
        ({"fallbacks": {"scripted": [42]}}, "the fallback of LM 'scripted' is not an LM", "found:    42"),
        ({"breakers": {"scripted": 3}}, "breakers= for LM 'scripted' is not a CircuitBreaker", "fix: pass breakers="),
        ({"timeout": "soon"}, "timeout= must be a number of seconds", "found:    'soon'"),
        ({"node_timeout": -1}, "node_timeout= must be a number of seconds", "expected: a number > 0, or None"),
    ]
    for options, summary, detail in cases:
        with pytest.raises(plait.PlaitError) as info:
            compiled.run([{"question": "q"}], store=False, lm=lm, **options)
        assert summary in str(info.value) and detail in str(info.value), str(info.value)


def test_a_fallback_may_be_named_by_its_configured_name(store_path):
    clock = plait.FakeClock()
    primary = plait.Faulty(plait.ScriptedLM(echo_answer, name="p"), error_rate=1.0, clock=clock)
    backup = plait.ScriptedLM(echo_answer, name="b")
    run = plait.compile(Chain4()).run([{"question": "q"}], store=store_path, lm=primary, lms={"backup": backup},
                                      clock=clock, fallbacks={"p": ["backup"]})
    assert run.status == "done" and backup.calls == 4


def test_the_default_breaker_is_kept_on_its_lm_and_shared_by_its_runs():
    clock = plait.FakeClock()
    primary = plait.Faulty(plait.ScriptedLM(echo_answer, name="p"), error_rate=1.0, clock=clock)
    backup = plait.ScriptedLM(echo_answer, name="b")
    options = {"store": False, "lm": primary, "clock": clock, "fallbacks": {"p": [backup]},
               "retry": plait.RetryPolicy(max_attempts=10)}
    plait.compile(Chain4()).run([{"question": "q"}], **options)
    assert primary.calls == 5 and default_breaker(primary).state == OPEN
    plait.compile(Chain4()).run([{"question": "q2"}], **options)
    assert primary.calls == 5 and backup.calls == 8  # the second run found the breaker open
    other = plait.Faulty(plait.ScriptedLM(echo_answer, name="p"), error_rate=1.0, clock=clock)
    assert default_breaker(other) is not default_breaker(primary)  # same name, another object
    assert default_breaker(other).state == CLOSED


def test_an_lm_that_cannot_hold_a_breaker_gets_one_per_ask():
    class Slotted:
        __slots__ = ("name",)

    lm = Slotted()
    assert default_breaker(lm) is not default_breaker(lm)

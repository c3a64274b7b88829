"""RetryPolicy: exponential caps, full jitter, Retry-After, which errors retry; and where a node's
policy comes from."""

import asyncio
import random

import pytest

import plait
from plait.runtime.retry import is_transient
from tests.programs import Chain4, echo_answer


def test_the_caps_grow_exponentially_up_to_the_maximum():
    policy = plait.RetryPolicy(initial=0.5, coefficient=3, maximum=10)
    assert [policy.cap(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10, 10]


def test_full_jitter_draws_uniformly_below_the_cap():
    policy, rng = plait.RetryPolicy(initial=1, coefficient=2, maximum=60), random.Random(0)
    draws = [policy.delay(4, rng) for _ in range(2000)]
    assert 0 <= min(draws) < 0.1 and 7.9 < max(draws) <= 8
    assert 3.7 < sum(draws) / len(draws) < 4.3


def test_no_jitter_waits_the_cap_and_retry_after_is_a_floor():
    policy, rng = plait.RetryPolicy(initial=2, jitter="none"), random.Random(0)
    assert policy.delay(3, rng) == 8.0
    assert policy.delay(1, rng, retry_after=30.0) == 30.0
    full = plait.RetryPolicy(initial=1, maximum=2)
    assert all(full.delay(5, rng, retry_after=1.5) >= 1.5 for _ in range(100))


@pytest.mark.parametrize("error, retried", [
    (plait.LMError("429", transient=True, retry_after=2), True),
    (plait.LMError("503", transient=True), True),
    (plait.LMError("401 authentication failed", transient=False), False),
    (plait.LMError("400 bad request"), False),
    (plait.LMError("the prompt exceeds the model's context window"), False),
    (TimeoutError(), True), (asyncio.TimeoutError(), True), (ConnectionResetError(), True),
    (ValueError("a bug"), False),
])
def test_which_errors_retry(error, retried):
    assert is_transient(error) is retried
    assert plait.RetryPolicy().retries(error) is retried


def test_retry_on_takes_extra_exception_classes_or_a_predicate():
    class Flaky(Exception):
        pass

    assert plait.RetryPolicy(retry_on=(Flaky,)).retries(Flaky())
    assert plait.RetryPolicy(retry_on=(Flaky,)).retries(plait.LMError("x", transient=True))
    never = plait.RetryPolicy(retry_on=lambda exc: False)
    assert not never.retries(plait.LMError("x", transient=True))


@pytest.mark.parametrize("kwargs, field, expected", [
    (dict(initial=-1), "initial", "a number >= 0"),
    (dict(coefficient=0.5), "coefficient", "a number >= 1"),
    (dict(initial=5, maximum=1), "maximum", "a number >= initial (5)"),
    (dict(max_attempts=0), "max_attempts", "an int >= 1"),
    (dict(jitter="equal"), "jitter", "'full' or 'none'"),
])
def test_an_invalid_policy_says_which_field(kwargs, field, expected):
    with pytest.raises(plait.PlaitError) as info:
        plait.RetryPolicy(**kwargs)
    assert f"RetryPolicy: invalid {field}" in str(info.value)
    assert f"expected: {expected}" in str(info.value) and f"fix: pass {field}=" in str(info.value)


def _attempts_per_node(run_kwargs, lm_retry=None):
    clock = plait.FakeClock()
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), error_rate=1.0, clock=clock)
    if lm_retry is not None:
        lm.retry = lm_retry
    plait.compile(Chain4()).run([{"question": "q"}], store=False, lm=lm, clock=clock, **run_kwargs)
    return lm.calls  # the first node's attempts: its failure ends the item


def test_a_node_policy_wins_over_the_lm_name_the_lm_attribute_and_the_run_default():
    two, three, four = (plait.RetryPolicy(max_attempts=n) for n in (2, 3, 4))
    assert _attempts_per_node({"retry": two}) == 2
    assert _attempts_per_node({"retry": two}, lm_retry=three) == 3
    assert _attempts_per_node({"retry": {"scripted": four}}, lm_retry=three) == 4
    assert _attempts_per_node({"retry": {"chain4.n1": two, "scripted": four}}, lm_retry=three) == 2
    assert _attempts_per_node({}) == plait.RetryPolicy().max_attempts


def test_a_retry_option_of_the_wrong_type_is_an_error():
    with pytest.raises(plait.PlaitError) as info:
        plait.compile(Chain4()).run([{"question": "q"}], store=False, lm=plait.ScriptedLM(echo_answer),
                                    retry={"chain4.n1": 3})
    assert "retry= for node 'chain4.n1' is not a RetryPolicy" in str(info.value)
    assert "fix: pass retry=plait.RetryPolicy(max_attempts=...)" in str(info.value)

"""Provider outages, on a fake clock: a fallback carries the run through; without one the run waits
the outage out, with every backoff inside the policy's bounds. Nothing here sleeps for real."""

from __future__ import annotations

import sqlite3
import statistics
from collections import Counter, defaultdict

import plait
from plait.runtime import events as ev
from tests.programs import Chain4, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(20)]
OUTAGE = (5.0, 65.0)


def primary_lm(clock, **faults):
    return plait.Faulty(plait.ScriptedLM(echo_answer, name="primary"), latency=1.0, outages=[OUTAGE],
                        clock=clock, **faults)


def backup_lm(clock):
    return plait.Faulty(plait.ScriptedLM(echo_answer, name="backup"), latency=1.0, clock=clock)


def journal_lms(store_path, run_id) -> Counter:
    rows = sqlite3.connect(store_path).execute(
        "SELECT lm FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND status='ok' AND source='lm'", (run_id,)).fetchall()
    return Counter(r[0] for r in rows)


def test_with_a_fallback_the_run_finishes_during_the_outage(store_path):
    clock, events = plait.FakeClock(), []
    primary, backup = primary_lm(clock), backup_lm(clock)
    primary.breaker = plait.CircuitBreaker(failures=3, cooldown=30)
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=primary, fallbacks={"primary": [backup]},
                                      clock=clock, concurrency=4, on_event=events.append,
                                      retry=plait.RetryPolicy(initial=1, maximum=8, max_attempts=10))
    assert run.status == "done" and clock.now() < OUTAGE[1]  # finished while the primary was down
    assert [r.outputs.d for r in run.items] == [f"d(c(b(a(q{i}))))" for i in range(20)]
    lms = journal_lms(store_path, run.id)
    assert lms["primary"] > 0 and lms["backup"] > 0 and sum(lms.values()) == 80
    assert backup.answered == lms["backup"] and run.stats.fallbacks == backup.calls
    opened = [e for e in events if isinstance(e, ev.BreakerOpened)]
    assert opened and opened[0].lm == "primary" and opened[0].failures == 3
    assert primary.injected["outage"] <= 3 + 4 * len(opened)  # fails fast while open: few calls hit the outage
    assert any(isinstance(e, ev.FellBack) and e.fallback == "backup" for e in events)


def test_a_fallback_answer_is_recorded_under_the_fallback_key(store_path):
    clock = plait.FakeClock()
    primary, backup = primary_lm(clock), backup_lm(clock)
    primary.breaker = plait.CircuitBreaker(failures=3, cooldown=1000)
    compiled = plait.compile(Chain4())
    first = compiled.run(ITEMS, store=store_path, lm=primary, fallbacks={"primary": [backup]}, clock=clock,
                         concurrency=4, retry=plait.RetryPolicy(initial=1, maximum=8, max_attempts=10))
    by_backup = journal_lms(store_path, first.id)["backup"]
    assert by_backup > 0
    # the resume of that run replays everything, the fallback's outputs included
    resumed = plait.resume(first.id, store=store_path, lm=primary, fallbacks={"primary": [backup]}, clock=clock)
    assert resumed.stats.lm_calls == 0 and resumed.stats.replayed == 80
    # a new run with a healthy primary reuses the primary's outputs, never the fallback's
    healthy = plait.ScriptedLM(echo_answer, name="primary")
    second = compiled.run(ITEMS, store=store_path, lm=healthy)
    assert healthy.calls == by_backup and second.stats.cache_hits == 80 - by_backup
    assert second.outputs == first.outputs


def retried(events) -> list[ev.NodeRetried]:
    return [e for e in events if isinstance(e, ev.NodeRetried)]


def test_without_a_fallback_the_run_finishes_after_the_outage_as_the_policy_says(store_path):
    clock, events = plait.FakeClock(), []
    policy = plait.RetryPolicy(initial=1, coefficient=2, maximum=16, max_attempts=12)
    primary = primary_lm(clock)
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=primary, retry=policy, clock=clock,
                                      concurrency=4, seed=11, on_event=events.append)
    assert run.status == "done" and clock.now() >= OUTAGE[1]
    assert run.stats.retries == primary.injected["outage"] > 20
    by_node = defaultdict(list)
    for e in retried(events):
        assert 0 <= e.delay <= policy.cap(e.attempt), e  # full jitter below the exponential cap
        assert "HTTP 503" in e.reason
        by_node[(e.item_id, e.node_id)].append(e.attempt)
    assert all(attempts == list(range(1, len(attempts) + 1)) for attempts in by_node.values())
    assert not Counter(e.delay for e in retried(events)) - Counter(clock.sleeps)  # each one slept on the clock
    ratios = [e.delay / policy.cap(e.attempt) for e in retried(events)]
    assert 0.3 < statistics.mean(ratios) < 0.7  # uniform over [0, cap]: full jitter, not equal jitter
    rows = sqlite3.connect(store_path).execute(
        "SELECT item_id, node_id, attempts FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND source='lm'", (run.id,)).fetchall()
    assert {(i, n): a for i, n, a in rows if a > 1} == {k: len(v) + 1 for k, v in by_node.items()}


def test_the_same_seed_gives_the_same_backoff(tmp_path):
    def delays(seed):
        clock, events = plait.FakeClock(), []
        plait.compile(Chain4()).run(ITEMS[:6], store=False, lm=primary_lm(clock), clock=clock, seed=seed,
                                    concurrency=1, on_event=events.append,
                                    retry=plait.RetryPolicy(initial=1, maximum=16, max_attempts=12))
        return [(e.item_id, e.node_id, e.delay) for e in retried(events)]

    assert delays(5) == delays(5) != delays(6)


def test_retry_after_is_honoured(store_path):
    clock, events = plait.FakeClock(), []
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), rate_limit_rate=0.3, retry_after=7.0, clock=clock, seed=2)
    policy = plait.RetryPolicy(initial=0.5, maximum=4, max_attempts=20)
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=lm, retry=policy, clock=clock,
                                      on_event=events.append)
    assert run.status == "done" and lm.injected["rate_limit"] > 5
    for e in retried(events):
        assert "HTTP 429" in e.reason and e.delay == 7.0  # never less than Retry-After; here above the cap


def test_an_open_breaker_spares_the_provider_and_the_run_still_waits_it_out(store_path):
    def outage_calls(breaker):
        clock = plait.FakeClock()
        primary = primary_lm(clock)
        primary.breaker = breaker
        run = plait.compile(Chain4()).run(ITEMS, store=False, lm=primary, clock=clock, concurrency=4,
                                          retry=plait.RetryPolicy(initial=1, maximum=16, max_attempts=20))
        assert run.status == "done" and clock.now() >= OUTAGE[1]
        return primary.injected["outage"]

    assert outage_calls(plait.CircuitBreaker(failures=3, cooldown=10)) < outage_calls(None) / 2


def test_errors_that_never_retry_fail_at_the_first_attempt(store_path):
    clock = plait.FakeClock()
    lm = plait.Faulty(plait.ScriptedLM(echo_answer), fatal_rate=1.0, clock=clock)
    run = plait.compile(Chain4()).run(ITEMS[:3], store=store_path, lm=lm, clock=clock)
    assert run.status == "failed" and lm.calls == 3 and run.stats.retries == 0
    error = run.items[0].error
    assert "LM 'scripted' failed for node 'chain4.n1': the provider rejected the request (HTTP 400" in error
    assert "attempts" not in error.splitlines()[0] and "resume the run" in error

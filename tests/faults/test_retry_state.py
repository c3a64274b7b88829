"""Retry state survives crashes and resumes: a node's attempts are counted in the journal, so a
resumed run never gives it a fresh set without being told to (``reset_attempts=True`` or a policy
with more ``max_attempts``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import plait
from tests.faults import backoff_job
from tests.programs import Chain4, echo_answer

ONE = [{"question": "q0"}]


def attempts(store_path: str, run_id: str, node: str = "chain4.n1") -> tuple[str, int]:
    row = sqlite3.connect(store_path).execute(
        "SELECT status, attempts FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND node_id=?", (run_id, node)).fetchone()
    return (row[0], row[1]) if row else ("", 0)


def down(clock):
    return plait.Faulty(plait.ScriptedLM(echo_answer), error_rate=1.0, clock=clock)


def test_a_resume_does_not_give_an_exhausted_node_new_attempts(store_path):
    clock, policy = plait.FakeClock(), plait.RetryPolicy(initial=1, max_attempts=3)
    lm = down(clock)
    run = plait.compile(Chain4()).run(ONE, store=store_path, lm=lm, retry=policy, clock=clock)
    assert run.status == "failed" and lm.calls == 3 and attempts(store_path, run.id) == ("failed", 3)
    error = run.items[0].error
    assert "LM 'scripted' failed for node 'chain4.n1' after 3 attempts: the provider failed (HTTP 500" in error
    assert "expected: an answer within 3 attempts (RetryPolicy(initial=1" in error
    assert "reset_attempts=True" in error and "resume the run" in error

    again = plait.resume(run.id, store=store_path, lm=lm, retry=policy, clock=clock)
    assert again.status == "failed" and lm.calls == 3  # no call: the journal says all 3 are used
    error = again.items[0].error
    assert "node 'chain4.n1' has no attempts left: the journal records 3 attempts, and its retry policy " \
           "allows 3 per run" in error
    assert "the last error: LM 'scripted' failed for node 'chain4.n1' after 3 attempts" in error
    assert "fix: resume with reset_attempts=True, or retry=plait.RetryPolicy(max_attempts=...) above 3" in error


def test_a_larger_policy_gives_exactly_the_difference(store_path):
    clock = plait.FakeClock()
    lm = down(clock)
    run = plait.compile(Chain4()).run(ONE, store=store_path, lm=lm, clock=clock,
                                      retry=plait.RetryPolicy(max_attempts=3))
    more = plait.resume(run.id, store=store_path, lm=lm, clock=clock, retry=plait.RetryPolicy(max_attempts=5))
    assert lm.calls == 5 and "after 5 attempts" in more.items[0].error
    assert attempts(store_path, run.id) == ("failed", 5)


def test_reset_attempts_gives_a_fresh_set_and_a_healthy_lm_finishes(store_path):
    clock = plait.FakeClock()
    lm = down(clock)
    policy = plait.RetryPolicy(max_attempts=2)
    run = plait.compile(Chain4()).run(ONE, store=store_path, lm=lm, clock=clock, retry=policy)
    healthy = plait.ScriptedLM(echo_answer)
    blocked = plait.resume(run.id, store=store_path, lm=healthy, clock=clock, retry=policy)
    assert blocked.status == "failed" and healthy.calls == 0
    fixed = plait.resume(run.id, store=store_path, lm=healthy, clock=clock, retry=policy, reset_attempts=True)
    assert fixed.status == "done" and healthy.calls == 4
    assert attempts(store_path, run.id) == ("ok", 2 + 1)  # the journal keeps the whole history


def test_every_failed_attempt_is_journaled_before_the_backoff(store_path):
    clock, seen = plait.FakeClock(), []

    def look(event):
        if isinstance(event, plait.events.NodeRetried):
            seen.append((event.attempt, attempts(store_path, event.run_id)))

    lm = plait.Faulty(plait.ScriptedLM(echo_answer), error_rate=1.0, clock=clock)
    plait.compile(Chain4()).run(ONE, store=store_path, lm=lm, clock=clock, on_event=look,
                                retry=plait.RetryPolicy(max_attempts=4))
    assert seen == [(1, ("retrying", 1)), (2, ("retrying", 2)), (3, ("retrying", 3))]


def test_an_edited_node_starts_counting_again(store_path):
    clock = plait.FakeClock()
    lm = down(clock)
    policy = plait.RetryPolicy(max_attempts=2)
    run = plait.compile(Chain4()).run(ONE, store=store_path, lm=lm, clock=clock, retry=policy)
    assert lm.calls == 2
    edited = plait.compile(Chain4()).update("chain4.n1", instructions="Answer briefly.")
    plait.resume(run.id, store=store_path, pipeline=edited, lm=lm, clock=clock, retry=policy)
    assert lm.calls == 4  # a new content key is a new computation: its attempts start at zero


def test_a_node_killed_during_its_backoff_keeps_its_attempts(tmp_path, forkserver):
    store, out = tmp_path / "runs.db", tmp_path / "child.out"
    child = forkserver.Process(target=backoff_job.main, args=(str(store), str(out)), daemon=True)
    child.start()
    deadline = time.monotonic() + 30
    while not (out.exists() and out.read_text().strip() and store.exists()
               and attempts(str(store), out.read_text().split()[1])[0] == "retrying"):
        assert child.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)  # asleep in an hour-long backoff after its first attempt
    child.join(10)
    run_id = out.read_text().split()[1]
    assert attempts(str(store), run_id) == ("retrying", 1)

    clock = plait.FakeClock()
    lm = down(clock)
    resumed = plait.resume(run_id, store=str(store), lm=lm, clock=clock, retry=plait.RetryPolicy(max_attempts=3))
    assert lm.calls == 2 and "after 3 attempts" in resumed.items[0].error  # 1 before the kill + 2
    assert attempts(str(store), run_id) == ("failed", 3)

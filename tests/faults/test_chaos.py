"""Chaos: SIGKILL real processes that run against a faulty LM, resume them, and check the contract.

Each of 30 trials runs 100 items x 5 LM nodes in a child process against a seeded faulty LM (20%
transient errors, 2-5 ms latency, one 0.2 s outage), kills it with SIGKILL at a random moment,
resumes it (in a third of the trials killing the resume too), and checks that

- the final outputs equal a fault-free reference run's,
- no output recorded before a kill changed afterwards (an ok row is final), and no node's attempt
  count went backwards (retry state survives the crash),
- LM calls answered twice for one node never exceed the calls in flight at the kills (answered
  but not recorded when the process died), and those are at most the concurrency per kill.

Children are forked from a fork server that has imported plait already: a real process each,
killed with a real SIGKILL, without a second of imports per process. ``PLAIT_CHAOS_SEED`` replays
a failing seed.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import plait
from tests.crash.test_crash_resume import run_status, snapshot
from tests.faults import chaos_job as job

TRIALS = 30
TOTAL_CALLS = job.ITEMS * 5
SEED = int(os.environ.get("PLAIT_CHAOS_SEED", time.time_ns() % 1_000_000))
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """A fault-free run's outputs, in this process."""
    store = tmp_path_factory.mktemp("reference") / "runs.db"
    lm = plait.ScriptedLM(job.answer)
    run = plait.compile(job.Fanout()).run(job.items(), ids=job.item_ids(), store=str(store), lm=lm,
                                          progress=False)
    assert run.status == "done" and lm.calls == TOTAL_CALLS
    return job.outputs_of(run)


@dataclass
class Trial:
    """One trial's files and measurements."""

    tmp: Path
    seed: int
    outage_at: float
    start: float = field(default_factory=time.monotonic)
    run_id: str | None = None
    kills: int = 0
    in_flight: int = 0  # answered at the last kill, minus recorded then: every kill's in-flight calls
    checkpoints: list[dict] = field(default_factory=list)  # the store's rows at each kill

    @property
    def store(self) -> Path:
        return self.tmp / "runs.db"

    @property
    def calls_file(self) -> Path:
        return self.tmp / "calls.txt"

    def start_child(self, ctx, name: str, mode: str):
        out = self.tmp / f"{name}.out"
        args = (mode, str(self.store), str(self.calls_file), str(out), self.seed, self.outage_at, self.start,
                self.run_id)
        proc = ctx.Process(target=job.main, args=args, daemon=True)
        proc.start()
        return proc, out


def answered(calls_file: Path) -> int:
    try:
        return calls_file.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def rows(store: Path, run_id: str) -> dict[tuple[str, str], tuple]:
    conn = sqlite3.connect(store)
    try:
        found = conn.execute("SELECT item_id, node_id, content_key, value_hash, status, source, lm, attempts,"
                             " recorded_at FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)",
                             (run_id,)).fetchall()
    finally:
        conn.close()
    return {(r[0], r[1]): r for r in found}


def ok_lm(found: dict) -> dict:
    return {k: r for k, r in found.items() if r[4] == "ok" and r[5] == "lm"}


def kill_at(proc, calls_file: Path, threshold: int) -> bool:
    """SIGKILL ``proc`` once ``threshold`` calls were answered; False if it finished first."""
    deadline = time.monotonic() + TIMEOUT
    while answered(calls_file) < threshold:
        if not proc.is_alive():
            return False
        assert time.monotonic() < deadline, f"no {threshold} calls within {TIMEOUT}s"
        time.sleep(0.0005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(TIMEOUT)
    return proc.exitcode == -signal.SIGKILL


def run_id_of(out: Path) -> str | None:
    lines = [ln[4:] for ln in out.read_text().splitlines() if ln.startswith("RUN ")] if out.exists() else []
    return lines[0].strip() if lines else None


def result_of(proc, out: Path) -> dict:
    import json

    proc.join(TIMEOUT)
    assert proc.exitcode == 0, f"the child exited with {proc.exitcode}"
    (line,) = [ln for ln in out.read_text().splitlines() if ln.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


def measure_kill(trial: Trial, name: str) -> None:
    """After a kill: the run is mid-flight, and the calls answered but not recorded are bounded."""
    copy = snapshot(trial.store, trial.tmp, name)
    assert run_status(copy, trial.run_id) == "running"  # the kill left it mid-run, as a crash would
    found = rows(copy, trial.run_id)
    in_flight_now = answered(trial.calls_file) - len(ok_lm(found))
    assert 0 <= in_flight_now - trial.in_flight <= job.MAX_IN_FLIGHT, (in_flight_now, trial.in_flight)
    trial.in_flight = in_flight_now
    trial.kills += 1
    trial.checkpoints.append(found)


def one_trial(ctx, trial: Trial, rng: random.Random, reference: dict) -> dict:
    proc, out = trial.start_child(ctx, "run", "run")
    if not kill_at(proc, trial.calls_file, rng.randrange(1, int(0.9 * TOTAL_CALLS))):
        return finish(trial, result_of(proc, out), reference)  # it finished first: a trial without a kill
    trial.run_id = run_id_of(out)  # a call was answered, so the run exists
    measure_kill(trial, "kill1")
    if rng.random() < 1 / 3:  # kill the resume too
        proc, out = trial.start_child(ctx, "resume1", "resume")
        now = answered(trial.calls_file)
        if kill_at(proc, trial.calls_file, rng.randrange(now + 1, now + 200)):
            measure_kill(trial, "kill2")
        else:
            proc.join(TIMEOUT)
    proc, out = trial.start_child(ctx, "resume", "resume")
    return finish(trial, result_of(proc, out), reference)


def finish(trial: Trial, result: dict, reference: dict) -> dict:
    assert result["status"] == "done" and result["outputs"] == reference
    final = rows(trial.store, result["run_id"])
    assert len(ok_lm(final)) == TOTAL_CALLS
    for checkpoint in trial.checkpoints:
        for key, row in checkpoint.items():
            if row[4] == "ok":
                assert final[key] == row, f"recorded output {key} changed after a kill"
            else:  # failed attempts journaled before the kill are still counted
                assert final[key][7] >= row[7], f"the attempts of {key} went back after a kill"
    calls = Counter(trial.calls_file.read_text().splitlines())
    duplicates = sum(n - 1 for n in calls.values())
    assert len(calls) == TOTAL_CALLS
    assert duplicates <= trial.in_flight, f"{duplicates} repeated calls, {trial.in_flight} in flight at kills"
    return {"trials": 1, "kills": trial.kills, "items": job.ITEMS, "duplicate calls": duplicates,
            "in flight at kills": trial.in_flight, "answered calls": sum(calls.values())}


@pytest.mark.slow
def test_chaos_kills_and_resumes_against_a_faulty_lm(tmp_path, reference, forkserver, capsys):
    rng = random.Random(SEED)
    totals: Counter = Counter()
    started = time.perf_counter()
    for number in range(TRIALS):
        tmp = tmp_path / f"trial{number:02d}"
        tmp.mkdir()
        trial = Trial(tmp, seed=rng.randrange(1 << 30), outage_at=rng.uniform(0.0, 0.4))
        try:
            totals.update(one_trial(forkserver, trial, rng, reference))
        except AssertionError as exc:
            raise AssertionError(f"trial {number} failed (PLAIT_CHAOS_SEED={SEED}): {exc}") from exc
    seconds = time.perf_counter() - started
    with capsys.disabled():
        shown = ", ".join(f"{k}: {v}" for k, v in totals.items())
        print(f"\nchaos (PLAIT_CHAOS_SEED={SEED}, {seconds:.1f} s): {shown}")
    assert totals["trials"] == TRIALS and totals["kills"] >= TRIALS // 2

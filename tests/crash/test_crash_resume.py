"""Crash tests: SIGKILL a real process mid-run, resume in another, count every LM call.

DESIGN.md contract 4 and 5: after a crash a node is either fully recorded or re-executed, so LM
calls repeat only for the calls in flight at the kill, and resume makes no call for a recorded node.

The child (``pipeline_job.py``) runs 200 items through 4 LM nodes with a scripted LM that appends
one line per call to a file before the call returns. The parent watches that file and kills the
child when it reaches a chosen count. "In flight at the kill" is measured, not assumed: the calls
counted in the file minus the LM rows the store recorded as ok.

One kill point also runs against PostgreSQL (a database on the session's server, tests/pg.py).
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

import plait
from plait.checkpoints.location import is_server, open_location
from tests.crash import pipeline_job as job
from tests.crash.child import Child, count_calls
from tests.stores import execute

JOB = Path(job.__file__)
ITEMS = 200
LM_NODES = ("diamond.root", "diamond.left", "diamond.right", "diamond.final")
TOTAL_CALLS = ITEMS * len(LM_NODES)  # 800: an uninterrupted run's calls


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The outputs of an uninterrupted run, in this process, with its own store."""
    store = tmp_path_factory.mktemp("reference") / "runs.db"
    lm = job.make_lm(latency=0.0)
    run = plait.compile(job.Diamond()).run(job.items(ITEMS), ids=job.item_ids(ITEMS), store=str(store), lm=lm,
                                           concurrency=job.CONCURRENCY, progress=False)
    assert run.status == "done" and lm.calls == TOTAL_CALLS
    return job.outputs_of(run)


def called_nodes(calls_file: Path, skip: int) -> Counter:
    return Counter(calls_file.read_text().splitlines()[skip:])


# --- the store, read with sqlite3 directly (or, on a server, through the store) ----------------
def snapshot(store: Path | str, tmp: Path, name: str) -> Path | str:
    """A copy of the store files as the kill left them, so that reading it cannot checkpoint or
    tidy the WAL before the resume opens the original. A server's store is read as it is."""
    if is_server(store):
        return store
    target = tmp / name
    target.mkdir()
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{store}{suffix}")
        if src.exists():
            shutil.copy(src, target / f"runs.db{suffix}")
    return target / "runs.db"


def ok_rows(store: Path | str, run_id: str) -> dict[tuple[str, str], tuple]:
    """Every ok journal row of the run, by (item, node), with all its columns but the run id."""
    rows = read(store, "SELECT item_id, node_id, iteration, content_key, value_hash, status, source, error, lm,"
                       " usage, attempts, recorded_at FROM journal"
                       " WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
                       " AND status='ok'", run_id)
    return {(r[0], r[1]): r for r in rows}


def lm_rows(rows: dict[tuple[str, str], tuple]) -> dict[tuple[str, str], tuple]:
    return {k: r for k, r in rows.items() if r[6] == "lm"}


def unrecorded_per_node(rows: dict[tuple[str, str], tuple]) -> Counter:
    """How many items each LM node has not recorded: what a resume must call, exactly."""
    done = Counter(node for _, node in lm_rows(rows))
    return Counter({n: ITEMS - done[n] for n in LM_NODES}) - Counter()  # drops the zeros


def run_status(store: Path | str, run_id: str) -> str:
    return read(store, "SELECT status FROM runs WHERE run_id=?", run_id)[0][0]


def read(store: Path | str, sql: str, *args: str) -> list[tuple]:
    if is_server(store):
        opened = open_location(store, create=False)
        try:
            return execute(opened, sql, *args)
        finally:
            opened.close()
    conn = sqlite3.connect(store)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# --- one kill, measured ------------------------------------------------------------------------
def kill_and_measure(child: Child, store: Path | str, calls_file: Path, threshold: int, tmp: Path, name: str,
                     run_id: str | None = None, repeated_before: int = 0) -> tuple[str, int, dict]:
    """Kill ``child`` at ``threshold`` calls; (run id, calls counted, ok rows after the kill).

    ``repeated_before``: the calls in flight at earlier kills of this run (counted in the file,
    never recorded), so that this kill's own in-flight calls are bounded by the concurrency."""
    calls = child.kill_at(calls_file, threshold)
    if run_id is None:
        (run_id,) = child.lines("RUN ")
    copy = snapshot(store, tmp, name)
    assert run_status(copy, run_id) == "running"  # the kill left it mid-run, as a crash would
    rows = ok_rows(copy, run_id)
    recorded = lm_rows(rows)
    assert all(r[10] == 1 for r in recorded.values())  # one call per recorded LM node: no parse retries
    assert set(n for _, n in recorded) <= set(LM_NODES)
    in_flight = calls - len(recorded) - repeated_before
    assert 0 <= in_flight <= job.MAX_IN_FLIGHT, f"{calls} calls, {len(recorded)} recorded, {repeated_before} before"
    return run_id, calls, rows


SEED = int(os.environ.get("PLAIT_CRASH_SEED", time.time_ns() % 1_000_000))
KILL_POINTS = {  # calls counted before the kill
    "early": int(0.10 * TOTAL_CALLS),
    "middle": int(0.50 * TOTAL_CALLS),
    "late": int(0.90 * TOTAL_CALLS),
    # anywhere but the last ~40 calls, which a loaded machine could let the child finish first;
    # a failure prints its seed: rerun it with PLAIT_CRASH_SEED=<seed>
    "random": random.Random(SEED).randrange(1, int(0.95 * TOTAL_CALLS)),
}


CASES = [pytest.param(point, "sqlite", id=point) for point in KILL_POINTS]
CASES.append(pytest.param("middle", "postgres", id="middle-postgres", marks=pytest.mark.postgres))


@pytest.mark.parametrize(("point", "kind"), CASES)
def test_sigkill_then_resume_repeats_only_calls_in_flight(point, kind, tmp_path, reference, children, record_property,
                                                          request):
    store = request.getfixturevalue("pg_url") if kind == "postgres" else tmp_path / "runs.db"
    calls_file = tmp_path / "calls.txt"
    print(f"kill point {point}: {KILL_POINTS[point]} calls (PLAIT_CRASH_SEED={SEED})")
    started = time.perf_counter()
    children.append(run := Child(JOB, tmp_path, "run", "run", str(store), str(calls_file), str(ITEMS)))
    run_id, at_kill, after_kill = kill_and_measure(run, store, calls_file, KILL_POINTS[point], tmp_path, "after_kill")
    recorded = lm_rows(after_kill)
    in_flight = at_kill - len(recorded)

    children.append(resume := Child(JOB, tmp_path, "resume", "resume", str(store), str(calls_file), str(ITEMS), run_id))
    result = resume.finish()

    total = count_calls(calls_file)
    resume_calls = total - at_kill
    numbers = dict(point=point, calls_before_kill=at_kill, recorded=len(recorded),
                                    in_flight=in_flight, resume_calls=resume_calls, total=total,
                                    seconds=round(time.perf_counter() - started, 2))
    record_property("numbers", numbers)
    print(numbers)
    assert result["run_id"] == run_id and result["status"] == "done"
    assert result["outputs"] == reference
    assert total <= TOTAL_CALLS + in_flight
    # sharper: the resume called exactly the unrecorded nodes, each once, and no recorded one
    assert resume_calls == result["lm_calls"] == TOTAL_CALLS - len(recorded)
    assert called_nodes(calls_file, at_kill) == unrecorded_per_node(after_kill)
    final = ok_rows(store, run_id)
    assert {k: final[k] for k in after_kill} == after_kill  # the resume changed no recorded row
    assert len(lm_rows(final)) == TOTAL_CALLS
    assert run_status(store, run_id) == "done"


def test_resume_killed_too_then_resumed_again(tmp_path, reference, children, record_property):
    store, calls_file = tmp_path / "runs.db", tmp_path / "calls.txt"
    started = time.perf_counter()
    children.append(run := Child(JOB, tmp_path, "run", "run", str(store), str(calls_file), str(ITEMS)))
    run_id, first_kill, after_first = kill_and_measure(run, store, calls_file, int(0.3 * TOTAL_CALLS),
                                                       tmp_path, "after_first")

    first_in_flight = first_kill - len(lm_rows(after_first))

    children.append(resume := Child(JOB, tmp_path, "resume1", "resume", str(store), str(calls_file), str(ITEMS), run_id))
    _, second_kill, after_second = kill_and_measure(resume, store, calls_file, int(0.7 * TOTAL_CALLS), tmp_path,
                                                    "after_second", run_id, repeated_before=first_in_flight)
    assert resume.lines("RUN ") == [run_id]
    assert {k: after_second[k] for k in after_first} == after_first  # the killed resume changed no row
    in_flight = second_kill - len(lm_rows(after_second))  # both kills: calls made minus calls recorded

    children.append(last := Child(JOB, tmp_path, "resume2", "resume", str(store), str(calls_file), str(ITEMS), run_id))
    result = last.finish()

    total = count_calls(calls_file)
    numbers = dict(first_kill=first_kill, first_in_flight=first_in_flight, second_kill=second_kill,
                   in_flight=in_flight, last_resume_calls=total - second_kill, total=total,
                   seconds=round(time.perf_counter() - started, 2))
    record_property("numbers", numbers)
    print(numbers)
    assert result["status"] == "done" and result["outputs"] == reference
    assert total <= TOTAL_CALLS + in_flight
    assert total - second_kill == result["lm_calls"] == TOTAL_CALLS - len(lm_rows(after_second))
    assert called_nodes(calls_file, second_kill) == unrecorded_per_node(after_second)
    final = ok_rows(store, run_id)
    assert {k: final[k] for k in after_second} == after_second
    assert len(lm_rows(final)) == TOTAL_CALLS

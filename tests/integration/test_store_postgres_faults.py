"""The PostgreSQL server misbehaving under a real run (the issue's damage tests for a shared store):

- its connections terminated again and again mid-run (as a crashed backend or a dropped network
  would): every transaction cut short is rolled back on the server and run again; the run finishes.
- the server restarted mid-run (``pg_ctl restart``), under a real child process: the run waits for
  it, reconnects and finishes.

Either way no node is half-recorded or recorded twice, no LM call is repeated, and the outputs
equal a clean run's.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import plait
from plait.checkpoints.location import open_location
from tests.crash import pipeline_job as job
from tests.crash.child import Child, count_calls, children  # noqa: F401 (a fixture)

pytestmark = pytest.mark.postgres
LM_NODES = 4


def _clean_outputs(tmp_path: Path, items: int) -> dict:
    run = plait.compile(job.Diamond()).run(job.items(items), ids=job.item_ids(items), store=str(tmp_path / "clean.db"),
                                           lm=job.make_lm(latency=0.0), concurrency=job.CONCURRENCY, progress=False)
    return job.outputs_of(run)


def _assert_recorded_once_and_whole(store, run_id: str, items: int) -> None:
    journal = store.journal(run_id)
    assert len(journal) == items * (LM_NODES + 1)  # the LM nodes and the output, per item
    for row in journal.values():
        assert row.status == "ok" and row.attempts == (1 if row.source == "lm" else row.attempts)
        assert store.read_value(row.value_hash)  # the value committed with its row
        if row.source == "lm":
            assert store.lookup(row.content_key) == row.value_hash  # and its cache entry
    assert store.item_counts()[run_id] == {"done": items}


def test_connections_terminated_again_and_again_mid_run(pg_server, pg_url, tmp_path):
    items = 40
    store = open_location(pg_url)
    stop, cut = threading.Event(), []

    def terminate_every_connection() -> None:
        while not stop.wait(0.05):
            cut.append(pg_server.terminate(pg_url))

    terminator = threading.Thread(target=terminate_every_connection)
    terminator.start()
    try:
        lm = job.make_lm(latency=0.005)
        run = plait.compile(job.Diamond()).run(job.items(items), ids=job.item_ids(items), store=store, lm=lm,
                                               concurrency=job.CONCURRENCY, progress=False)
    finally:
        stop.set()
        terminator.join()
    print(f"{sum(cut)} connections cut in {len(cut)} rounds")
    assert sum(cut) >= 5, f"only {sum(cut)} connections were cut: the test did not disturb the run"
    assert run.status == "done" and job.outputs_of(run) == _clean_outputs(tmp_path, items)
    assert lm.calls == items * LM_NODES  # a cut transaction is run again; its LM call is not
    _assert_recorded_once_and_whole(store, run.id, items)
    store.close()


def test_a_server_restarted_mid_run_is_waited_for_and_the_run_finishes(pg_server, pg_url, tmp_path, children):
    items, calls_file = 120, tmp_path / "calls.txt"
    children.append(child := Child(Path(job.__file__), tmp_path, "run", "run", pg_url, str(calls_file), str(items)))
    _wait(lambda: count_calls(calls_file) >= items * LM_NODES // 3, child)
    started = time.monotonic()
    pg_server.restart()  # fast mode: every connection is cut; the socket is gone for a moment
    restart_seconds = time.monotonic() - started
    result = child.finish()
    assert result["status"] == "done" and result["outputs"] == _clean_outputs(tmp_path, items)
    assert count_calls(calls_file) == result["lm_calls"] == items * LM_NODES  # no LM call was repeated
    assert count_calls(calls_file) > 0 and restart_seconds > 0
    store = open_location(pg_url)
    _assert_recorded_once_and_whole(store, result["run_id"], items)
    assert store.get_run(result["run_id"]).status == "done" and store.lease(result["run_id"]) is None
    store.close()


def _wait(condition, child: Child, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert child.proc.poll() is None, f"the child exited early:\n{child.err.read_text()}"
        assert time.monotonic() < deadline
        time.sleep(0.005)

"""``plait.open_run``: a stored run, read-only: no lease, no write, no LM call."""

import hashlib
from pathlib import Path

import pytest

import plait
from plait.checkpoints.sqlite import SQLiteStore
from tests.programs import Chain4, Diamond, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(6)]


def _never_called(task):
    raise AssertionError(f"open_run called the LM for {task.node_id}")


def _fails_on_q3(task):
    if "q3" in str(task.inputs):
        return "I refuse to use your format."  # never parses: the node fails after its re-asks
    return echo_answer(task)


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_an_opened_failed_run_shows_outputs_and_failures_and_asks_nothing(store_path):
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=plait.ScriptedLM(_fails_on_q3))
    assert run.status == "failed" and len(run.failed) == 1
    plait.configure(lm=plait.ScriptedLM(_never_called))  # any LM call would raise
    before = _digest(store_path)
    opened = plait.open_run(run.id, store=store_path)
    assert _digest(store_path) == before  # nothing written: no lease, no status
    assert opened.read_only and opened.status == "failed"
    assert opened.outputs == run.outputs
    assert [r.item_id for r in opened.failed] == ["3"] and "chain4.n1" in opened.failed[0].error
    assert opened.stats.lm_calls == run.stats.lm_calls and opened.stats.failed_nodes == 1
    assert opened.stats.lm_requests == run.stats.lm_requests
    assert list(opened.to_pandas()["status"]) == [r.status for r in run.items]
    assert "<svg" in opened.graph()._repr_svg_()


def test_open_run_counts_steps_and_tokens_like_the_run_that_recorded_them(store_path, echo_lm):
    run = plait.compile(Diamond()).run(ITEMS, store=store_path, lm=echo_lm)
    opened = plait.open_run(run.id, store=store_path)
    assert opened.stats.steps == run.stats.steps == 6
    assert opened.stats.lm_calls == run.stats.lm_calls == 24
    assert opened.node_table().set_index("node")["lm_calls"].to_dict() == \
        run.node_table().set_index("node")["lm_calls"].to_dict()


def test_a_run_held_by_another_process_opens_without_its_lease(store_path, echo_lm):
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=echo_lm)
    store = SQLiteStore(store_path)
    store.set_run(run.id, status="running")
    store.acquire_lease(run.id, "someone-else", ttl=600)
    store.close()
    opened = plait.open_run(run.id, store=store_path)
    assert opened.status == "running" and opened.outputs == run.outputs
    with pytest.raises(plait.LeaseHeld):
        plait.resume(run.id, store=store_path, lm=echo_lm)


def test_a_killed_run_opens_as_interrupted(store_path, echo_lm):
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=echo_lm)
    store = SQLiteStore(store_path)
    store.set_run(run.id, status="running")  # as a SIGKILL leaves it: no live lease
    store.close()
    assert plait.open_run(run.id, store=store_path).status == "interrupted"


def test_an_unknown_run_says_which_store_and_what_to_do(store_path, echo_lm):
    plait.compile(Chain4()).run(ITEMS[:1], store=store_path, lm=echo_lm)
    with pytest.raises(plait.RunNotFound) as info:
        plait.open_run("20990101-000000-000000", store=store_path)
    assert "20990101-000000-000000" in str(info.value) and "plait runs" in str(info.value)

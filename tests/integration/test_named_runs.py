"""Named runs: the same job run again goes on with its run of that name instead of adding one."""

from __future__ import annotations

import plait
from plait.cli.gc import replaced_runs
from tests.programs import Chain4, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(5)]


def _fails_q3(task):
    return "no fields here" if "q3" in str(task.inputs) else echo_answer(task)


def _runs(store_path: str) -> list:
    store = plait.SQLiteStore(store_path)
    try:
        return store.list_runs()
    finally:
        store.close()


def test_a_finished_named_run_replays_instead_of_adding_a_run(store_path, echo_lm, capsys):
    compiled = plait.compile(Chain4())
    first = compiled.run(ITEMS, store=store_path, lm=echo_lm, name="nightly")
    again = compiled.run(ITEMS, store=store_path, lm=echo_lm, name="nightly", progress=True)
    assert again.id == first.id and again.outputs == first.outputs
    assert again.stats.lm_calls == 0 and again.stats.replayed == 20 and echo_lm.calls == 20
    assert f"resuming run {first.id}: 20 of 20 nodes recorded" in capsys.readouterr().err
    assert [r.config["name"] for r in _runs(store_path)] == ["nightly"]


def test_an_unfinished_named_run_goes_on_where_it_stopped(store_path):
    compiled = plait.compile(Chain4())
    failed = compiled.run(ITEMS, store=store_path, lm=plait.ScriptedLM(_fails_q3), parse_retries=0, name="nightly")
    assert failed.status == "failed"
    lm = plait.ScriptedLM(echo_answer, record=True)
    done = compiled.run(ITEMS, store=store_path, lm=lm, name="nightly")
    assert done.id == failed.id and done.status == "done"
    assert lm.calls == 4  # only item q3's four nodes: the others replay
    assert len(_runs(store_path)) == 1


def test_other_items_or_an_edited_pipeline_start_a_new_run_that_supersedes_the_old(store_path, echo_lm):
    first = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=echo_lm, name="nightly")
    other = plait.compile(Chain4()).run(ITEMS[:2], store=store_path, lm=echo_lm, name="nightly")
    edited = plait.compile(Chain4("Continue, shorter.")).run(ITEMS[:2], store=store_path, lm=echo_lm, name="nightly")
    unnamed = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=echo_lm)
    assert len({first.id, other.id, edited.id, unnamed.id}) == 4
    assert replaced_runs(_runs(store_path)) == {first.id, other.id}


def test_a_fork_of_a_named_run_is_not_the_next_run_of_that_name(store_path, echo_lm):
    compiled = plait.compile(Chain4())
    first = compiled.run(ITEMS, store=store_path, lm=echo_lm, name="nightly")
    fork = plait.rerun(first.id, from_node="chain4.n4", store=store_path, lm=echo_lm)
    assert "name" not in next(r for r in _runs(store_path) if r.run_id == fork.id).config
    assert compiled.run(ITEMS, store=store_path, lm=echo_lm, name="nightly").id == first.id

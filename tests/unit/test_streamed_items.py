"""A run with a store file streams its items: any iterable (a generator too) is stored a chunk at a
time, the executor admits items from the store as it goes, and a done item's results are read
back from the store when asked, so that memory stays flat in the number of items."""

import sqlite3
import tracemalloc
from contextlib import closing

import pytest

import plait
from plait.api import admit, item_view
from plait.runtime import feed


class TwoSteps(plait.Module):
    def __init__(self):
        self.first = plait.Predict("question -> draft")
        self.second = plait.Predict("draft -> answer")

    def forward(self, question: str):
        return self.second(draft=self.first(question=question).draft)


def answer(task):
    return {name: f"{name}({len(str(task.inputs))})" for name in task.output_fields}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few items, so that a few dozen items cross every chunk boundary."""
    monkeypatch.setattr(admit, "STORE_CHUNK", 7)
    monkeypatch.setattr(feed, "READ_CHUNK", 5)
    monkeypatch.setattr(item_view, "CHUNK", 6)


def questions(n, bad=()):
    for i in range(n):
        yield {"wrong": i} if i in bad else {"question": f"question {i}"}


def test_a_generator_runs_as_a_list_does_and_its_items_read_back_from_the_store(store_path, small_chunks):
    compiled, lm = plait.compile(TwoSteps()), plait.ScriptedLM(answer)
    run = compiled.run(questions(40, bad={17}), store=store_path, lm=lm, progress=False)
    in_memory = compiled.run(list(questions(40, bad={17})), store=False, lm=lm, progress=False)
    assert isinstance(run.items, item_view.StoredItems) and isinstance(in_memory.items, list)
    assert run.items == in_memory.items[:17] + [run.items[17]] + in_memory.items[18:]
    assert run.outputs == in_memory.outputs and run.outputs[-1].answer == in_memory.outputs[-1].answer
    assert [r.item_id for r in run.failed] == ["17"] and "no field 'question'" in run.failed[0].error
    assert isinstance(run.failed[0].exception, plait.InputError)  # the exception, in this process
    assert run.status == "failed" and len(run) == 40 and run[39].status == "done"
    assert [r.item_id for r in run.items[-3:]] == ["37", "38", "39"] and run.items[-1] == run.items[39]
    assert repr(run).startswith(f"Run({run.id!r}, status='failed', items=40 (39 done, 1 failed)")


def test_a_streamed_run_resumes_with_no_lm_call(store_path, small_chunks):
    compiled = plait.compile(TwoSteps())
    run = compiled.run(questions(30), store=store_path, lm=plait.ScriptedLM(answer), progress=False)
    again = plait.resume(run.id, store=store_path, lm=plait.ScriptedLM(answer), progress=False)
    assert again.stats.lm_calls == 0 and again.stats.replayed == 30 * 2
    assert again.outputs == run.outputs and [r.item_id for r in again.items] == [str(i) for i in range(30)]


def test_ids_given_with_a_generator_are_checked_before_the_run_exists(store_path):
    compiled = plait.compile(TwoSteps())
    with pytest.raises(plait.InputError, match="one unique id per item"):
        compiled.run(questions(3), ids=["a", "b"], store=store_path, lm=plait.ScriptedLM(answer), progress=False)
    run = compiled.run(questions(3), ids=["a", "b", "c"], store=store_path, lm=plait.ScriptedLM(answer), progress=False)
    assert [r.item_id for r in run.items] == ["a", "b", "c"] and run.status == "done"
    assert len(plait.SQLiteStore(store_path).list_runs()) == 1


def test_a_run_cut_short_while_storing_its_items_is_refused_by_resume(store_path, small_chunks):
    def broken():
        yield from questions(20)
        raise RuntimeError("the dataset's source went away")

    with pytest.raises(RuntimeError, match="went away"):
        plait.compile(TwoSteps()).run(broken(), store=store_path, lm=plait.ScriptedLM(answer), progress=False)
    (record,) = plait.SQLiteStore(store_path).list_runs()
    assert record.status == "storing"
    with pytest.raises(plait.PlaitError) as refused:
        plait.resume(record.run_id, store=store_path, lm=plait.ScriptedLM(answer), progress=False)
    message = str(refused.value)
    assert "while its items were being stored" in message and "status 'storing'" in message
    assert "compiled.run(dataset" in message  # the fix


def test_the_tally_keeps_cells_only_for_items_that_did_not_finish_done(store_path):
    def fails_item_2_second(task):
        if task.node_id.endswith("second") and "question 2" in str(task.inputs):
            return "no fields here"  # it never parses: the node fails after its re-asks
        return {name: f"{name}: {task.inputs}" for name in task.output_fields}

    run = plait.compile(TwoSteps()).run(questions(6), store=store_path, lm=plait.ScriptedLM(fails_item_2_second),
                                        progress=False)
    assert [r.item_id for r in run.failed] == ["2"]
    assert run.tally.cells == {("2", "two_steps.first"): "ok", ("2", "two_steps.second"): "failed"}
    assert run.tally.nodes["two_steps.first"].lm_calls == 6
    statuses = run.graph().svg
    assert "failed" in statuses and run.to_pandas()["status"].tolist().count("done") == 5


def _peak_bytes(compiled, items, store_path):
    tracemalloc.start()
    try:
        run = compiled.run(items, store=store_path, lm=plait.ScriptedLM(answer), progress=False)
        return tracemalloc.get_traced_memory()[1], run
    finally:
        tracemalloc.stop()


def test_peak_memory_is_flat_in_the_number_of_items(tmp_path, monkeypatch):
    """Items of ~400 bytes each: a run that held them (or their results) would grow by more than
    that per item (before streaming: ~1.6 KB per item); a streamed run keeps a 32-byte digest
    per item, and its peak moves with the writer's backlog: under half an item's input per item."""
    monkeypatch.setattr(admit, "STORE_CHUNK", 128)
    compiled, text = plait.compile(TwoSteps()), "x" * 400
    compiled.run([{"question": "warm up"}], store=False, lm=plait.ScriptedLM(answer), progress=False)
    small, few = _peak_bytes(compiled, ({"question": f"{i} {text}"} for i in range(500)), str(tmp_path / "a.db"))
    large, many = _peak_bytes(compiled, ({"question": f"{i} {text}"} for i in range(2500)), str(tmp_path / "b.db"))
    assert few.status == many.status == "done" and many.outputs[2499].answer.startswith("answer(")
    assert (large - small) / 2000 < 200, f"peak {small} bytes for 500 items, {large} for 2500"



def test_items_whose_stored_outputs_are_lost_fail_alone_when_read_back(store_path, small_chunks):
    def distinct(task):  # every item's outputs differ: losing one value loses one item's
        return {name: f"{name}<{task.inputs}>" for name in task.output_fields}

    run = plait.compile(TwoSteps()).run(questions(20), store=store_path, lm=plait.ScriptedLM(distinct), progress=False)
    with closing(sqlite3.connect(store_path)) as db:  # lose item 3's outputs (and any item's sharing them)
        (lost,) = db.execute("SELECT value_hash FROM journal WHERE node_id = 'outputs' AND item_id = '3'").fetchone()
        sharing = {i for (i,) in db.execute("SELECT item_id FROM journal WHERE node_id = 'outputs' AND value_hash = ?",
                                                (lost,))}
        db.execute("DELETE FROM blobs WHERE hash = ?", (lost,))
        db.commit()
    for reread in (list(run.items), list(plait.open_run(run.id, store=store_path).items)):
        assert {r.item_id for r in reread if r.status == "failed"} == sharing == {"3"}
        assert all(f"value {lost.hex()[:12]} is missing" in r.error and "fix:" in r.error
                   for r in reread if r.status == "failed")
        assert all(r.outputs is not None for r in reread if r.status == "done") and len(reread) == 20

"""The executor's contract (DESIGN.md 2-5): run, resume, resume after an edit, fork, reuse."""

import asyncio
import sqlite3

import pytest

import plait
from plait.runtime import events as ev
from tests.programs import Chain4, Diamond, Pipeline, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(12)]


def test_run_records_every_node_and_returns_typed_outputs(store_path, echo_lm):
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=echo_lm)
    assert run.status == "done" and len(run) == 12
    assert run.outputs[3].d == "d(c(b(a(q3))))"
    assert echo_lm.calls == 48 and run.stats.lm_calls == 48
    rows = sqlite3.connect(store_path).execute(
        "SELECT COUNT(*) FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND status='ok'", (run.id,)).fetchone()[0]
    assert rows == 12 * 5  # four LM nodes and the output, per item


def test_resume_of_a_finished_run_makes_no_lm_call(store_path, echo_lm):
    compiled = plait.compile(Chain4())
    first = compiled.run(ITEMS, store=store_path, lm=echo_lm)
    again = plait.resume(first.id, store=store_path, lm=echo_lm)
    assert echo_lm.calls == 48
    assert again.stats.lm_calls == 0 and again.stats.replayed == 48
    assert again.outputs == first.outputs


def test_a_second_run_with_the_same_keys_reuses_everything(store_path, echo_lm):
    compiled = plait.compile(Chain4())
    compiled.run(ITEMS, store=store_path, lm=echo_lm)
    second = compiled.run(ITEMS, store=store_path, lm=echo_lm)
    assert echo_lm.calls == 48
    assert second.stats.lm_calls == 0 and second.stats.cache_hits == 48


def _instruction_sensitive(task):
    """n3 upper-cases its output when told to, but only for items with an even number."""
    out = echo_answer(task)
    if task.node_id == "chain4.n3" and "UPPER" in task.instructions:
        digit = int(task.inputs["b"].split("q")[1][0])
        if digit % 2 == 0:
            out = {k: v.upper() for k, v in out.items()}
    return out


def test_resume_after_an_edit_recomputes_exactly_the_changed_nodes(store_path):
    lm = plait.ScriptedLM(_instruction_sensitive, record=True)
    items = [{"question": f"q{i}"} for i in range(10)]
    run = plait.compile(Chain4("Continue.")).run(items, store=store_path, lm=lm)
    lm.requests.clear()
    edited = plait.compile(Chain4("Continue, in UPPER case."))
    after = plait.resume(run.id, store=store_path, pipeline=edited, lm=lm)
    called = [r.task.node_id for r in lm.requests]
    assert called.count("chain4.n3") == 10  # the edited node, for every item
    assert called.count("chain4.n4") == 5  # downstream only where n3's output changed
    assert set(called) == {"chain4.n3", "chain4.n4"}
    assert after.outputs[2].d == "d(C(B(A(Q2))))"
    assert after.outputs[1].d == "d(c(b(a(q1))))"


def test_a_new_run_after_an_edit_reuses_unchanged_nodes_by_content(store_path):
    lm = plait.ScriptedLM(_instruction_sensitive, record=True)
    items = [{"question": f"q{i}"} for i in range(10)]
    plait.compile(Chain4("Continue.")).run(items, store=store_path, lm=lm)
    lm.requests.clear()
    run = plait.compile(Chain4("Continue, in UPPER case.")).run(items, store=store_path, lm=lm)
    called = [r.task.node_id for r in lm.requests]
    assert called.count("chain4.n3") == 10 and called.count("chain4.n4") == 5
    assert run.stats.cache_hits == 10 + 10 + 5


def test_rerun_from_a_node_forks_and_recomputes_it_and_its_descendants(store_path, echo_lm):
    compiled = plait.compile(Chain4())
    run = compiled.run(ITEMS, store=store_path, lm=echo_lm)
    echo_lm.requests.clear()
    fork = plait.rerun(run.id, from_node="chain4.n3", store=store_path, lm=echo_lm)
    assert fork.id != run.id
    assert sorted({r.task.node_id for r in echo_lm.requests}) == ["chain4.n3", "chain4.n4"]
    assert fork.stats.lm_calls == 24 and fork.stats.replayed == 24
    assert fork.outputs == run.outputs
    runs = {r.run_id: r for r in plait.SQLiteStore(store_path).list_runs()}
    assert runs[fork.id].parent_run == run.id


def test_rerun_from_an_unknown_node_is_explained(store_path, echo_lm):
    run = plait.compile(Chain4()).run(ITEMS[:1], store=store_path, lm=echo_lm)
    with pytest.raises(plait.PlaitError, match="has no node 'chain4.n9'") as err:
        plait.rerun(run.id, from_node="chain4.n9", store=store_path, lm=echo_lm)
    assert "chain4.n3" in str(err.value)


def test_non_reusable_nodes_never_reuse_another_runs_output(store_path, echo_lm):
    class Sampled(plait.Module):
        def __init__(self):
            self.a = plait.Predict("question -> answer", reusable=False, temperature=0.9)

        def forward(self, question: str):
            return self.a(question=question)

    compiled = plait.compile(Sampled())
    first = compiled.run(ITEMS[:3], store=store_path, lm=echo_lm)
    compiled.run(ITEMS[:3], store=store_path, lm=echo_lm)
    assert echo_lm.calls == 6
    plait.resume(first.id, store=store_path, lm=echo_lm)  # its own journal still replays
    assert echo_lm.calls == 6


def test_independent_branches_run_concurrently(store_path):
    lm = plait.ScriptedLM(echo_answer, latency=0.05)
    log = []
    plait.compile(Diamond()).run([{"question": "q"}], store=store_path, lm=lm,
                                 on_event=lambda e: log.append(e))
    order = [(type(e).__name__, getattr(e, "node_id", "")) for e in log if isinstance(e, (ev.NodeStarted, ev.NodeFinished))]
    assert order.index(("NodeStarted", "diamond.right")) < order.index(("NodeFinished", "diamond.left"))


class SlowFirstItem(plait.ScriptedLM):
    async def acall(self, request):
        if "q0" in str(request.task.inputs):
            await asyncio.sleep(0.2)
        return await super().acall(request)


def test_items_do_not_wait_for_each_other(store_path):
    # a slow first item must not hold back the other items' later nodes (no per-item barrier)
    lm = SlowFirstItem(echo_answer, latency=0.005)
    log = []
    plait.compile(Chain4()).run(ITEMS[:4], store=store_path, lm=lm, concurrency=8,
                                on_event=lambda e: log.append(e))
    finished = [e.item_id for e in log if isinstance(e, ev.ItemFinished)]
    starts = [e for e in log if isinstance(e, ev.NodeStarted)]
    assert {e.item_id for e in starts[:4]} == {"0", "1", "2", "3"}  # all items start at once
    assert finished[-1] == "0" and sorted(finished) == ["0", "1", "2", "3"]


def test_the_sync_facade_works_inside_a_running_event_loop(store_path, echo_lm):
    compiled = plait.compile(Pipeline())

    async def notebook_cell():
        return compiled.run([{"document": "d"}], store=store_path, lm=echo_lm)

    run = asyncio.run(notebook_cell())
    assert run.outputs[0].topic == "sports"


def test_async_api(store_path, echo_lm):
    compiled = plait.compile(Pipeline())
    run = asyncio.run(compiled.arun([{"document": "d"}], store=store_path, lm=echo_lm))
    again = asyncio.run(plait.aresume(run.id, store=store_path, lm=echo_lm))
    assert again.outputs == run.outputs and again.stats.lm_calls == 0


def test_eager_compiled_and_resumed_agree(store_path, echo_lm):
    plait.configure(lm=echo_lm)
    eager = Pipeline()(document="the match")
    compiled = plait.compile(Pipeline())
    single = compiled(document="the match")
    run = compiled.run([{"document": "the match"}], store=store_path)
    resumed = plait.resume(run.id, store=store_path)
    assert eager.topic == single.topic == run.outputs[0].topic == resumed.outputs[0].topic
    assert eager.reasoning == single.reasoning == resumed.outputs[0].reasoning


def test_context_overrides_the_configured_lm(store_path, echo_lm):
    other = plait.ScriptedLM(lambda t: {"answer": "other"}, name="other")
    plait.configure(lm=echo_lm)
    qa = plait.Predict("question -> answer")
    with plait.context(lm=other):
        assert qa(question="x").answer == "other"
    assert qa(question="x").answer == "answer(x)"


def test_per_module_lm_override(store_path, echo_lm):
    judge = plait.ScriptedLM(lambda t: {"verdict": "ok"}, name="judge")

    class Judged(plait.Module):
        def __init__(self):
            self.a = plait.Predict("question -> answer")
            self.j = plait.Predict("answer -> verdict", lm=judge)

        def forward(self, question: str):
            return self.j(answer=self.a(question=question).answer)

    run = plait.compile(Judged()).run(ITEMS[:2], store=store_path, lm=echo_lm)
    assert run.outputs[0].verdict == "ok" and judge.calls == 2 and echo_lm.calls == 2


def test_a_run_without_an_lm_says_how_to_configure_one(store_path):
    with pytest.raises(plait.PlaitError) as err:
        plait.compile(Pipeline()).run([{"document": "d"}], store=store_path)
    assert "node 'pipeline.summarize' needs an LM" in str(err.value)
    assert "plait.configure(lm=" in str(err.value)


def test_progress_bar_and_events_do_not_break_the_run(store_path, echo_lm):
    def broken(event):
        raise RuntimeError("display bug")

    run = plait.compile(Chain4()).run(ITEMS[:3], store=store_path, lm=echo_lm, on_event=broken, progress=True)
    assert run.status == "done"

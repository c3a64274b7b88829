"""plait.loop: user loops as one LOOP node, each iteration journaled as a delta, replayed on resume."""

from __future__ import annotations

import json

import pytest

import plait
from plait.checkpoints.sqlite import SQLiteStore
from plait.ir.nodes import Op
from plait.runtime import events as ev
from tests import loop_programs as lp
from tests.programs import line_of


def _journal(store_path: str, run_id: str, node_id: str) -> dict[int, dict]:
    store = SQLiteStore(store_path)
    try:
        rows = {k[2]: r for k, r in store.journal(run_id).items() if k[1] == node_id}
        return {i: json.loads(store.read_value(r.value_hash)) for i, r in rows.items()}
    finally:
        store.close()


def test_a_loop_runs_until_done_and_journals_each_iteration(store_path):
    run = plait.compile(lp.Counter()).run([{"start": 2}], store=store_path, progress=False)
    assert dict(run.items[0].outputs) == {"last": {"n": 5, "done": True}, "iterations": 4, "finished": True}
    values = _journal(store_path, run.id, "counter.loop")
    assert sorted(values) == [0, 1, 2, 3, 4]  # iteration 0 is the node's value; 1..4 the entries
    assert [values[i] for i in (1, 2, 3, 4)] == [{"n": n, "done": n >= 5} for n in (2, 3, 4, 5)]
    assert values[0]["trajectory"] == [values[i] for i in (1, 2, 3, 4)]


def test_the_plan_prints_the_loop_and_its_body():
    text = str(plait.compile(lp.Counter()))
    assert "counter.loop = loop(start=inputs.start)" in text
    assert "max_iters: 10, on_max_iters: 'error'" in text
    assert "counter.count_up = step tests.loop_programs:count_up(start=inputs.start, trajectory=inputs.trajectory)" in text


def test_a_loop_with_lm_calls_in_its_body(store_path):
    lm = plait.ScriptedLM(lambda task: {"draft": f"draft {len(task.inputs['trajectory'])}"})
    run = plait.compile(lp.Writer()).run([{"topic": "loops"}], store=store_path, lm=lm, progress=False)
    assert run.items[0].outputs.final == {"draft": "draft 2", "done": True}
    assert lm.calls == 3 and run.stats.lm_calls == 3


def test_resume_replays_recorded_iterations_without_lm_calls(store_path):
    """A budget stops the run mid-loop; resume goes on from the last recorded iteration."""
    lm = plait.ScriptedLM(lambda task: {"draft": f"draft {len(task.inputs['trajectory'])}"})
    compiled = plait.compile(lp.Writer())
    first = compiled.run([{"topic": "loops"}], store=store_path, lm=lm, progress=False, budget=plait.Budget(lm_calls=2))
    assert first.status == "stopped" and lm.calls == 2
    seen: list[ev.LoopIteration] = []
    again = plait.resume(first.id, store=store_path, lm=lm, on_event=lambda e: seen.append(e)
                         if isinstance(e, ev.LoopIteration) else None)
    assert again.status == "done" and lm.calls == 3  # one new call: the third iteration
    assert [(e.iteration, e.source) for e in seen] == [(1, "replay"), (2, "replay"), (3, "lm")]
    assert again.items[0].outputs.final == {"draft": "draft 2", "done": True}


def test_a_new_run_reuses_the_iterations_another_run_recorded(store_path):
    """Iteration keys cover the loop's inputs and the entries so far: an identical prefix is reused."""
    lm = plait.ScriptedLM(lambda task: {"draft": f"draft {len(task.inputs['trajectory'])}"})
    compiled = plait.compile(lp.Writer())
    compiled.run([{"topic": "loops"}], store=store_path, lm=lm, progress=False, budget=plait.Budget(lm_calls=2))
    compiled.run([{"topic": "other"}], store=store_path, lm=lm, progress=False)
    assert lm.calls == 5  # another topic: other keys, every iteration calls the LM
    seen: list[ev.LoopIteration] = []
    same = compiled.run([{"topic": "loops"}], store=store_path, lm=lm, progress=False,
                        on_event=lambda e: seen.append(e) if isinstance(e, ev.LoopIteration) else None)
    assert [e.source for e in seen] == ["cache", "cache", "lm"] and lm.calls == 6
    assert same.items[0].outputs.final == {"draft": "draft 2", "done": True}


def test_max_iters_fails_the_node_with_a_message_naming_the_fix(store_path):
    run = plait.compile(lp.Counter(lp.never_done, max_iters=3)).run([{"start": 1}], store=store_path,
                                                                     progress=False)
    error = run.items[0].exception
    assert isinstance(error, plait.NodeError)
    text = str(error)
    assert "loop 'counter.loop' did not finish within max_iters=3" in text
    assert "body output 'done'" in text
    assert f"loop_programs.py:{line_of(lp.Counter.forward, 'plait.loop(')}" in text
    assert "found:    done=False after 3 iterations" in text
    assert "fix: raise max_iters" in text and "on_max_iters='return'" in text


def test_raising_max_iters_keeps_the_recorded_iterations(store_path):
    run = plait.compile(lp.Counter(lp.never_done, max_iters=3)).run([{"start": 1}], store=store_path,
                                                                     progress=False)
    seen: list[ev.LoopIteration] = []
    wider = plait.compile(lp.Counter(lp.never_done, max_iters=5, on_max_iters="return"))
    again = plait.resume(run.id, store=store_path, pipeline=wider,
                         on_event=lambda e: seen.append(e) if isinstance(e, ev.LoopIteration) else None)
    assert [e.source for e in seen] == ["replay"] * 3 + ["step"] * 2
    assert dict(again.items[0].outputs) == {"last": {"n": 5, "done": False}, "iterations": 5, "finished": False}


def test_a_body_without_done_is_a_trace_error():
    class NoDone(plait.Module):
        def __init__(self):
            self.draft = plait.Predict("topic -> draft")

        def forward(self, topic: str):
            return {"draft": self.draft(topic=topic).draft}

    class Outer(plait.Module):
        def __init__(self):
            self.body = NoDone()

        def forward(self, topic: str):
            return plait.loop(self.body, max_iters=3, topic=topic).last

    with pytest.raises(plait.TraceError) as info:
        plait.compile(Outer())
    text = str(info.value)
    assert "the body of loop 'outer.body' returns no 'done' field" in text
    assert f"test_loops.py:{line_of(Outer.forward, 'plait.loop(')}" in text
    assert "body output 'done'" in text and "fix: return a dict with 'done'" in text


def test_a_step_body_whose_dict_lacks_done_fails_at_run_time(store_path):
    run = plait.compile(lp.Counter(lp.add_step_without_done)).run([{"start": 1}], store=store_path,
                                                                   progress=False)
    text = str(run.items[0].exception)
    assert "the body of loop 'counter.loop' returned an entry without a bool 'done'" in text
    assert "found:    {'n': 2}" in text and "fix: return {'done': <bool>, ...}" in text


def test_loop_arguments_are_checked_when_tracing():
    with pytest.raises(plait.TraceError, match="max_iters=0") as info:
        plait.compile(lp.Counter(max_iters=0))
    assert "expected: an int >= 1" in str(info.value) and "fix: pass max_iters=10" in str(info.value)
    with pytest.raises(plait.TraceError, match="on_max_iters='never'"):
        plait.compile(lp.Counter(on_max_iters="never"))
    with pytest.raises(plait.TraceError, match="plait.loop is called outside a traced pipeline") as info:
        plait.loop(lp.count_up, max_iters=3, start=1)
    assert "fix: call plait.loop inside the forward() of a plait.Module" in str(info.value)


def test_a_loop_plan_saves_and_loads_with_the_same_fingerprints(tmp_path):
    compiled = plait.compile(lp.Writer())
    compiled.save(tmp_path / "plan.json")
    loaded = plait.CompiledPipeline.load(tmp_path / "plan.json")
    (loop,) = loaded.plan.of_op(Op.LOOP)
    assert loop.fingerprint == compiled.plan.node(loop.id).fingerprint
    assert str(loaded) == str(compiled)


def test_editing_the_body_changes_the_loop_fingerprint():
    first = plait.compile(lp.Writer())
    edited = lp.Writer()
    edited.critic.draft = plait.Predict("topic, trajectory -> draft", temperature=0.5)
    second = plait.compile(edited)
    assert first.plan.node("writer.critic").fingerprint != second.plan.node("writer.critic").fingerprint


def test_a_loop_inside_a_loop_body_is_a_trace_error():
    class Inner(plait.Module):
        def forward(self, start: int, trajectory: list[dict]):
            return {"done": plait.loop(lp.count_up, max_iters=3, start=start).finished}

    class Outer(plait.Module):
        def __init__(self):
            self.inner = Inner()

        def forward(self, start: int):
            return plait.loop(self.inner, max_iters=3, start=start).last

    with pytest.raises(plait.TraceError) as info:
        plait.compile(Outer())
    text = str(info.value)
    assert "loop 'outer.inner.loop' is inside the body of loop 'outer.inner'" in text
    assert f"test_loops.py:{line_of(Inner.forward, 'plait.loop(')}" in text
    assert "fix: run the inner loop as its own loop" in text


def test_a_plan_diff_shows_what_changed_inside_a_loop_body():
    before = plait.compile(plait.ReAct("question -> answer", tools=[lp.add], max_iters=3))
    edited = plait.ReAct("question -> answer", tools=[lp.add], max_iters=4)
    edited.react.demos = [{"question": "q", "trajectory": "", "next_thought": "t", "next_tool_name": "finish",
                           "next_tool_args": {}}]
    text = before.diff(plait.compile(edited))
    assert "~ node re_act\n" in text and "    max_iters: 3 -> 4" in text
    assert "    body:\n      ~ node re_act.react\n" in text and "          demos: 0 -> 1" in text


def test_a_failing_body_fails_its_item_only(store_path):
    run = plait.compile(lp.Counter(lp.fragile)).run([{"start": 1}, {"start": -1}], store=store_path, progress=False)
    good, bad = run.items
    assert good.status == "done" and dict(good.outputs)["iterations"] == 2
    assert bad.status == "failed"
    assert "step 'counter.fragile' raised ValueError: cannot count from -1" in bad.error


def test_a_failed_iteration_keeps_its_lm_attempts_in_the_journal(store_path):
    lm = plait.ScriptedLM(lambda task: "not in the format")  # every reply and re-ask fails to parse
    run = plait.compile(lp.Writer()).run([{"topic": "loops"}], store=store_path, lm=lm, progress=False)
    assert run.status == "failed" and "cannot be parsed" in run.items[0].error
    store = SQLiteStore(store_path)
    try:
        row = store.journal(run.id)[(run.items[0].item_id, "writer.critic", 1)]
    finally:
        store.close()
    assert (row.status, row.source, row.attempts) == ("failed", "lm", 3) and lm.calls == 3

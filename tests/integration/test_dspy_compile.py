"""plait.compile(dspy_program): existing DSPy programs traced into plans, run like any pipeline,
and their state moved both ways. The differential tests run each program in plain DSPy and in plait
with the same adapter and the same deterministic DSPy LM (tests/dspy_programs.py), item for item."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dspy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from plait.errors import PlaitError, PlanLoadError, TraceError
from tests.dspy_programs import (COMPILABLE, INPUT_NAME, CityAgent, DeterministicLM, DraftThenPolish, MultiHop,
                                 MultiHopEarlyExit, TicketTriage)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = {"chat": dspy.ChatAdapter, "json": dspy.JSONAdapter}
UNKIND = ["", "[[ ## completed ## ]]", '{"answer": 1}', "naïve 🚀 \u202e", "line\nbreak\t\x00", "x" * 2000]


def deterministic_plait_lm() -> plait.DSPyLM:
    """The deterministic DSPy LM as plait calls it (``--lm scripted:...`` in the CLI test)."""
    return plait.DSPyLM(DeterministicLM(), adapter="chat")


def dspy_outputs(program: dspy.Module, adapter: str, items: list[dict]) -> list[dict]:
    with dspy.context(lm=DeterministicLM(), adapter=ADAPTERS[adapter]()):
        return [dict(program(**item).items()) for item in items]


def plait_outputs(compiled: plait.CompiledPipeline, adapter: str, items: list[dict], **run) -> list[dict]:
    result = compiled.run(items, lm=plait.DSPyLM(DeterministicLM(), adapter=adapter), progress=False, **run)
    assert [i.error for i in result.items] == [None] * len(items)
    return [dict(i.outputs) for i in result.items]


# --- differential ----------------------------------------------------------------------------------
@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
@pytest.mark.parametrize("shape", sorted(COMPILABLE))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=40), min_size=1, max_size=3))
def test_compiled_outputs_equal_dspy_outputs(shape, adapter, texts):
    program = COMPILABLE[shape]()
    items = [{INPUT_NAME[shape]: text} for text in [*texts, *UNKIND[:2]]]
    assert plait_outputs(plait.compile(program), adapter, items, store=False) == dspy_outputs(program, adapter, items)


def test_unkind_strings_give_the_same_outputs():
    program = TicketTriage()
    items = [{"ticket": text} for text in UNKIND]
    assert plait_outputs(plait.compile(program), "chat", items, store=False) == dspy_outputs(program, "chat", items)


# --- the plan ----------------------------------------------------------------------------------------
class AskTwice(dspy.Module):
    """One predictor called in a constant loop: its calls unroll into numbered nodes."""

    def __init__(self):
        super().__init__()
        self.refine = dspy.Predict("question, draft -> draft_out")

    def forward(self, question: str):
        draft = "start"
        for _ in range(3):
            draft = self.refine(question=question, draft=draft).draft_out
        return dspy.Prediction(answer=draft)


def test_node_ids_signatures_and_demos_come_from_the_program():
    program = MultiHop()
    program.answer.demos = [dspy.Example(question="q?", notes="n", answer="a").with_inputs("question", "notes")]
    plan = plait.compile(program).plan
    predicts = [n.id for n in plan.nodes if n.op.name == "PREDICT"]
    assert predicts == ["multi_hop.hop.0", "multi_hop.hop.1", "multi_hop.answer"]
    assert list(plan.node("multi_hop.hop.0").params.signature.output_fields) == ["reasoning", "new_notes"]
    assert plan.node("multi_hop.answer").params.demos == ({"question": "q?", "notes": "n", "answer": "a"},)
    assert plan.node("multi_hop.answer").source.line > 0
    assert plan.meta["dspy"]["predictors"]["multi_hop.hop.0"] == "hop[0].predict"


def test_a_constant_loop_unrolls_and_runs_like_dspy():
    compiled = plait.compile(AskTwice())
    assert [n.id for n in compiled.plan.nodes if n.op.name == "PREDICT"] == [
        "ask_twice.refine", "ask_twice.refine#1", "ask_twice.refine#2"]
    items = [{"question": "why?"}]
    assert plait_outputs(compiled, "chat", items, store=False) == dspy_outputs(AskTwice(), "chat", items)


def test_typed_outputs_keep_their_types():
    node = plait.compile(TicketTriage()).plan.node("ticket_triage.assess")
    types = {f.name: f.type for f in node.outputs}
    assert types["priority"] is int and types["is_bug"] is bool and types["tags"] == list[str]


# --- what cannot compile -------------------------------------------------------------------------------
def test_branching_on_an_lm_output_names_plait_durable():
    with pytest.raises(TraceError) as caught:
        plait.compile(MultiHopEarlyExit())
    error = caught.value
    assert error.node == "multi_hop_early_exit.hop" and error.field == "done"
    assert error.source.file.endswith("dspy_programs.py")
    assert "if step.done" in Path(error.source.file).read_text().splitlines()[error.source.line - 1]
    assert "plait.durable(program)" in str(error) and "control flow" in str(error)


def test_react_names_plait_durable():
    with pytest.raises(TraceError) as caught:
        plait.compile(CityAgent())
    error = caught.value
    assert error.node == "city_agent.agent" and "dspy.ReAct" in str(error)
    assert "self.agent(question=question)" in Path(error.source.file).read_text().splitlines()[error.source.line - 1]
    assert "plait.durable(program)" in error.fix


# --- a normal compiled pipeline: store, show, resume, evaluate, reload ------------------------------------
class FailingLM(DeterministicLM):
    """Fails every call whose prompt mentions 'boom': those items fail, the others finish."""

    def forward(self, prompt=None, messages=None, **kwargs):
        if "boom" in json.dumps(messages):
            raise ValueError("no reply for this one")
        return super().forward(prompt, messages, **kwargs)


def test_a_failed_run_resumes_from_the_cli_and_shows(tmp_path):
    store = tmp_path / "runs.db"
    items = [{"question": "fine"}, {"question": "boom"}]
    run = plait.compile(DraftThenPolish()).run(items, store=store, lm=plait.DSPyLM(FailingLM()), progress=False)
    assert [i.status for i in run.items] == ["done", "failed"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PLAIT_LM", None)
    lm = "scripted:tests.integration.test_dspy_compile:deterministic_plait_lm"
    for args in (["resume", run.id, "--lm", lm], ["show", run.id]):
        done = subprocess.run([sys.executable, "-m", "plait.cli", *args, "--store", str(store)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert "draft_then_polish.polish" in done.stdout
    replay_lm = DeterministicLM()
    resumed = plait.resume(run.id, store=store, lm=plait.DSPyLM(replay_lm), progress=False)
    assert replay_lm.prompts == []  # everything was recorded by the CLI's resume
    assert [dict(i.outputs) for i in resumed.items] == dspy_outputs(DraftThenPolish(), "chat", items)
    rerun_lm = DeterministicLM()
    fork = plait.rerun(run.id, from_node="draft_then_polish.polish", store=store, lm=plait.DSPyLM(rerun_lm),
                       progress=False)
    assert len(rerun_lm.prompts) == 2  # only the polish node recomputes, once per item
    assert [dict(i.outputs) for i in fork.items] == [dict(i.outputs) for i in resumed.items]


def test_evaluate_and_a_saved_plan_work_on_it(tmp_path):
    compiled = plait.compile(TicketTriage())
    devset = [dspy.Example(ticket=t).with_inputs("ticket") for t in ("a", "b", "c")]
    result = plait.evaluate(compiled, devset, lambda ex, pred: pred.priority >= 1, store=False,
                            lm=deterministic_plait_lm(), progress=False)
    assert result.score == 1.0
    assert "ticket_triage.assess" in compiled._repr_html_() and "<svg" in compiled.graph()._repr_svg_()
    compiled.save(tmp_path / "plan.json")
    loaded = plait.CompiledPipeline.load(tmp_path / "plan.json")
    assert loaded == compiled and loaded.plan.meta["dspy"] == compiled.plan.meta["dspy"]


# --- state in ----------------------------------------------------------------------------------------
def _saved_multihop(path: Path) -> Path:
    """A MultiHop with a demo and new instructions, saved by DSPy."""
    program = MultiHop()
    program.answer.demos = [dspy.Example(question="q?", notes="n", answer="a")]
    program.hop[1].predict.signature = program.hop[1].predict.signature.with_instructions("Write shorter notes.")
    program.save(str(path))
    return path


def test_compile_picks_up_state_loaded_by_dspy(tmp_path):
    program = MultiHop()
    program.load(str(_saved_multihop(tmp_path / "x.json")))
    compiled = plait.compile(program)
    assert compiled.plan.node("multi_hop.answer").params.demos == ({"question": "q?", "notes": "n", "answer": "a"},)
    assert compiled.plan.node("multi_hop.hop.1").params.instructions == "Write shorter notes."
    items = [{"question": "why?"}, {"question": ""}]
    assert plait_outputs(compiled, "chat", items, store=False) == dspy_outputs(program, "chat", items)


def test_load_dspy_state_reads_the_json_into_a_compiled_plan(tmp_path):
    path = _saved_multihop(tmp_path / "x.json")
    program = MultiHop()
    program.load(str(path))
    plait.compile(MultiHop()).save(tmp_path / "plan.json")  # a reloaded plan still knows DSPy's names
    loaded = plait.CompiledPipeline.load(tmp_path / "plan.json").load_dspy_state(path)
    assert loaded == plait.compile(program)


def test_load_dspy_state_names_a_missing_predictor(tmp_path):
    path = tmp_path / "other.json"
    DraftThenPolish().save(str(path))
    with pytest.raises(PlanLoadError) as caught:
        plait.compile(MultiHop()).load_dspy_state(path)
    error = caught.value
    assert error.node == "multi_hop.hop.0" and "'hop[0].predict'" in str(error) and "draft, polish" in error.found
    assert "same program class" in error.fix


def test_load_dspy_state_of_an_unreadable_file(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PlanLoadError, match="cannot read the DSPy state") as caught:
        plait.compile(MultiHop()).load_dspy_state(tmp_path / "bad.json")
    assert "save('x.json')" in caught.value.fix
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(PlanLoadError, match="is not a DSPy program's saved state"):
        plait.compile(MultiHop()).load_dspy_state(tmp_path / "list.json")


def test_state_methods_refuse_a_plan_not_compiled_from_dspy(tmp_path):
    class QA(plait.Module):
        def __init__(self):
            self.answer = plait.Predict("question -> answer")

        def forward(self, question: str):
            return self.answer(question=question)

    compiled = plait.compile(QA())
    for call in (compiled.to_dspy, lambda: compiled.load_dspy_state(tmp_path / "x.json")):
        with pytest.raises(PlaitError, match="was not compiled from a DSPy program") as caught:
            call()
        assert "plait.compile(program)" in caught.value.fix


# --- state out and the round trip ----------------------------------------------------------------------
def test_round_trip_dspy_state_plait_optimizer_back_to_dspy(tmp_path):
    start = DraftThenPolish()
    start.polish.signature = start.polish.signature.with_instructions("Answer in one line.")
    start.save(str(tmp_path / "start.json"))
    program = DraftThenPolish()
    program.load(str(tmp_path / "start.json"))
    trainset = [dspy.Example(question=q).with_inputs("question") for q in ("a?", "b?", "c?")]
    compiled = plait.compile(program, optimizer=plait.BootstrapFewShot(max_bootstrapped_demos=2), trainset=trainset,
                             metric=lambda example, prediction: True, store=tmp_path / "opt.db",
                             lm=deterministic_plait_lm(), progress=False)
    demos = compiled.plan.node("draft_then_polish.polish").params.demos
    assert len(demos) == 2
    compiled.to_dspy().save(str(tmp_path / "out.json"))
    fresh = DraftThenPolish()
    fresh.load(str(tmp_path / "out.json"))  # DSPy's own load
    assert fresh.polish.signature.instructions == "Answer in one line."
    assert [dict(d) for d in fresh.polish.demos] == [dict(d) for d in demos]
    lm = DeterministicLM()
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        prediction = fresh(question="z?")
    polish_prompt = json.dumps(lm.prompts[1])
    assert all(demo["answer"] in polish_prompt for demo in demos)  # DSPy ran with plait's demos
    assert plait_outputs(compiled, "chat", [{"question": "z?"}], store=False) == [dict(prediction.items())]


def test_to_dspy_from_a_reloaded_plan_makes_the_recorded_class(tmp_path):
    program = MultiHop()
    compiled = plait.compile(program).update("multi_hop.answer", demos=[{"question": "q", "notes": "n", "answer": "a"}])
    compiled.save(tmp_path / "plan.json")
    exported = plait.CompiledPipeline.load(tmp_path / "plan.json").to_dspy()
    assert type(exported) is MultiHop and exported is not program
    assert [dict(d) for d in exported.answer.demos] == [{"question": "q", "notes": "n", "answer": "a"}]
    assert program.answer.demos == []  # the original program is untouched


def test_to_dspy_errors_name_the_fix(tmp_path):
    class Local(dspy.Module):  # not importable by its path
        def __init__(self):
            super().__init__()
            self.answer = dspy.Predict("question -> answer")

        def forward(self, question: str):
            return self.answer(question=question)

    compiled = plait.compile(Local())
    compiled.save(tmp_path / "plan.json")
    with pytest.raises(PlaitError, match="cannot make a new") as caught:
        plait.CompiledPipeline.load(tmp_path / "plan.json").to_dspy()
    assert "compiled.to_dspy(MyProgram(...))" in caught.value.fix
    with pytest.raises(PlaitError, match="has no predictor 'answer'") as caught:
        compiled.to_dspy(DraftThenPolish())
    assert caught.value.node == "local.answer" and "draft, polish" in caught.value.found

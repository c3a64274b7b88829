"""Tracing dspy.Modules: where predictors are found (nested modules, dicts, tuples), what each node
takes from its predictor (signature, demos, LM, settings), and what cannot be traced."""

from __future__ import annotations

import dspy
import pytest

import plait
from plait.errors import TraceError
from tests.dspy_programs import DeterministicLM

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Inner(dspy.Module):
    def __init__(self):
        super().__init__()
        self.step = dspy.Predict("text -> summary")

    def forward(self, text: str):
        return self.step(text=text)


class Outer(dspy.Module):
    def __init__(self):
        super().__init__()
        self.inner = Inner()
        self.by_lang = {"en": dspy.Predict("summary -> title")}
        self.pair = (dspy.ChainOfThought("summary -> tag"),)
        self.unused = dspy.Predict("x -> y")

    def forward(self, text: str):
        summary = self.inner(text=text).summary
        return dspy.Prediction(title=self.by_lang["en"](summary=summary).title, tag=self.pair[0](summary=summary).tag)


def test_predictors_are_found_in_nested_modules_dicts_and_tuples():
    program = Outer()
    compiled = plait.compile(program)
    assert [n.id for n in compiled.plan.nodes if n.op.name == "PREDICT"] == [
        "outer.inner.step", "outer.by_lang.en", "outer.pair.0"]
    assert compiled.plan.meta["dspy"]["predictors"] == {
        "outer.inner.step": "inner.step", "outer.by_lang.en": "by_lang['en']", "outer.pair.0": "pair[0].predict",
        "outer.unused": "unused"}
    assert [o.name for o in compiled.plan.node("outputs").inputs] == ["title", "tag"]
    assert isinstance(program.inner.step, dspy.Predict) and isinstance(program.pair[0], dspy.ChainOfThought)


def test_a_predictors_lm_and_settings_go_to_its_node():
    class WithLM(dspy.Module):
        def __init__(self):
            super().__init__()
            self.answer = dspy.Predict("question -> answer", temperature=0.5)
            self.answer.set_lm(DeterministicLM())

        def forward(self, question: str):
            return self.answer(question=question)

    program = WithLM()
    compiled = plait.compile(program)
    params = compiled.plan.node("with_lm.answer").params
    assert params.lm == "deterministic/hash" and params.settings == {"temperature": 0.5}
    with dspy.context(adapter=dspy.ChatAdapter()):
        expected = dict(program(question="hi").items())
    assert dict(compiled(question="hi")) == expected  # no lm= given: the predictor's own LM answers


def test_other_dspy_library_modules_name_plait_durable():
    class Best(dspy.Module):
        def __init__(self):
            super().__init__()
            self.best = dspy.BestOfN(dspy.Predict("question -> answer"), N=2, reward_fn=lambda a, p: 1.0,
                                     threshold=1.0)

        def forward(self, question: str):
            return self.best(question=question)

    with pytest.raises(TraceError, match="dspy.BestOfN 'best.best' cannot be compiled") as caught:
        plait.compile(Best())
    assert caught.value.node == "best.best" and "plait.durable(program)" in caught.value.fix


def test_python_on_an_lm_output_fails_at_the_users_line():
    class Joins(dspy.Module):
        def __init__(self):
            super().__init__()
            self.answer = dspy.Predict("question -> answer")

        def forward(self, question: str):
            return {"answer": self.answer(question=question).answer.strip()}

    with pytest.raises(TraceError) as caught:
        plait.compile(Joins())
    error = caught.value
    assert error.source.file == __file__ and "attribute access '.strip'" in str(error)
    assert error.fix.startswith("run the DSPy program as written with plait.durable(program)")
    assert "@plait.step" in error.fix


def test_a_plait_module_keeps_the_step_fix():
    class QA(plait.Module):
        def __init__(self):
            self.answer = plait.Predict("question -> answer")

        def forward(self, question: str):
            if self.answer(question=question).answer:
                return {"answer": question}

    with pytest.raises(TraceError) as caught:
        plait.compile(QA())
    assert "durable" not in caught.value.fix and "@plait.step" in caught.value.fix

"""Tracing: stable ids, source lines, unrolled loops, and clear errors for Python logic on symbols."""

import pytest

import plait
from plait.ir.nodes import Op
from tests.programs import Chain4, Diamond, Pipeline, line_of



def test_node_ids_come_from_the_module_tree_and_are_stable():
    first = [n.id for n in plait.compile(Pipeline()).plan.nodes]
    second = [n.id for n in plait.compile(Pipeline()).plan.nodes]
    assert first == second == ["inputs", "pipeline.summarize", "pipeline.classify", "outputs"]


def test_nodes_carry_the_users_source_line():
    plan = plait.compile(Pipeline()).plan
    node = plan.node("pipeline.summarize")
    assert node.source.file.endswith("programs.py")
    assert node.source.line == line_of(Pipeline.forward, "self.summarize(")


def test_chain_of_thought_adds_a_reasoning_field_first():
    node = plait.compile(Pipeline()).plan.node("pipeline.classify")
    assert [f.name for f in node.outputs] == ["reasoning", "topic"]


def test_steps_become_step_nodes():
    plan = plait.compile(Diamond()).plan
    assert plan.node("diamond.join").op is Op.STEP
    assert plan.predecessors("diamond.join") == ["diamond.left", "diamond.right"]


class Hops(plait.Module):
    def __init__(self, hops=3):
        self.hops = hops
        self.query = plait.Predict("context, question -> query")

    def forward(self, question: str):
        context = question
        for _ in range(self.hops):
            context = self.query(context=context, question=question).query
        return {"answer": context}


def test_loops_over_constants_unroll_with_numbered_ids():
    ids = [n.id for n in plait.compile(Hops(3)).plan.of_op(Op.PREDICT)]
    assert ids == ["hops.query", "hops.query#1", "hops.query#2"]


def test_nested_modules_and_lists_get_paths():
    class Inner(plait.Module):
        def __init__(self):
            self.p = plait.Predict("x -> y")

        def forward(self, x):
            return self.p(x=x)

    class Outer(plait.Module):
        def __init__(self):
            self.stages = [Inner(), Inner()]

        def forward(self, x: str):
            y = self.stages[0](x=x).y
            return self.stages[1](x=y)

    ids = [n.id for n in plait.compile(Outer()).plan.of_op(Op.PREDICT)]
    assert ids == ["outer.stages.0.p", "outer.stages.1.p"]


class Branchy(plait.Module):
    def __init__(self):
        self.a = plait.Predict("question -> answer")

    def forward(self, question: str):
        answer = self.a(question=question).answer
        if answer:  # control flow on a symbolic value
            return {"answer": answer}
        return {"answer": answer}


def test_control_flow_on_a_symbol_names_node_field_line_and_fix():
    with pytest.raises(plait.TraceError) as err:
        plait.compile(Branchy())
    text = str(err.value)
    assert "control flow" in text
    assert "node 'branchy.a'" in text and "field 'answer'" in text
    assert f"test_tracing.py:{line_of(Branchy.forward, 'if answer')}" in text
    assert "@plait.step" in text


class Formatted(plait.Module):
    def __init__(self):
        self.a = plait.Predict("question -> answer")

    def forward(self, question: str):
        answer = self.a(question=question).answer
        return {"answer": f"The answer is {answer}"}


def test_string_formatting_a_symbol_becomes_a_template_node_at_its_line():
    node = plait.compile(Formatted()).plan.node("formatted.format")
    assert node.params.pure and node.inputs[0].const == "The answer is {v0}"
    assert f"test_tracing.py:{line_of(Formatted.forward, 'The answer is')}" == str(node.source)


class Arithmetic(plait.Module):
    def __init__(self):
        self.a = plait.Predict("question -> n: int")

    def forward(self, question: str):
        return {"n": self.a(question=question).n + 1}


def test_arithmetic_on_a_symbol_is_refused():
    with pytest.raises(plait.TraceError, match=r"the operator \+") as err:
        plait.compile(Arithmetic())
    assert "fix: move this logic into a @plait.step" in str(err.value)


class Typo(plait.Module):
    def __init__(self):
        self.a = plait.Predict("question -> answer")
        self.b = plait.Predict("answer -> verdict")

    def forward(self, question: str):
        return self.b(answer=self.a(question=question).answr)


def test_unknown_output_field_suggests_the_right_one():
    with pytest.raises(plait.TraceError) as err:
        plait.compile(Typo())
    text = str(err.value)
    assert "unknown output field 'answr' of node 'typo.a'" in text
    assert f"test_tracing.py:{line_of(Typo.forward, 'answr')}" in text
    assert "did you mean 'answer'?" in text


class WrongInput(plait.Module):
    def __init__(self):
        self.a = plait.Predict("question -> answer")

    def forward(self, question: str):
        return self.a(qestion=question)


def test_unknown_input_field_is_refused_at_the_call():
    with pytest.raises(plait.TraceError) as err:
        plait.compile(WrongInput())
    text = str(err.value)
    assert "unknown input field 'qestion' of node 'wrong_input.a'" in text
    assert "did you mean 'question'?" in text
    assert f"test_tracing.py:{line_of(WrongInput.forward, 'qestion')}" in text


def test_string_signature_with_types():
    plan = plait.compile(plait.Predict("question -> answer: int")).plan
    (node,) = plan.of_op(Op.PREDICT)
    assert node.output("answer").type is int


def test_bad_signature_string_is_explained():
    with pytest.raises(plait.TraceError, match="cannot parse the signature string"):
        plait.Predict("question answer")


def test_chain_ids():
    assert [n.id for n in plait.compile(Chain4()).plan.of_op(Op.PREDICT)] == [
        "chain4.n1", "chain4.n2", "chain4.n3", "chain4.n4"]

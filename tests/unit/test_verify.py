"""The verifier and the type pass: every error names node, field, file:line and the fix."""

import pytest

import plait
from plait.compiler.passes import PASSES, run_passes
from plait.compiler.verify import verify
from plait.ir.nodes import Field, Node, Op, Port, Ref
from plait.ir.plan import Plan
from plait.ir.source import SourceLoc
from tests.programs import Chain4, Classify, Diamond, line_of


class Counter(plait.Signature):
    """Count the words."""

    text: str = plait.InputField()
    count: int = plait.OutputField()


class Mismatch(plait.Module):
    def __init__(self):
        self.count = plait.Predict(Counter)
        self.shout = plait.Predict("count: str -> loud")

    def forward(self, text: str):
        n = self.count(text=text).count
        return self.shout(count=n)


def test_type_mismatch_names_both_ends():
    # int -> str is refused: plait does not convert silently between producer and consumer
    with pytest.raises(plait.PlanError) as err:
        plait.compile(Mismatch())
    text = str(err.value)
    assert "type mismatch: input 'count' of node 'mismatch.shout' is declared str but receives int" in text
    assert f"test_verify.py:{line_of(Mismatch.forward, 'self.shout(')}" in text
    assert "found:    int, from mismatch.count.count" in text
    assert "fix: make the two fields' types agree" in text


class LiteralIntoStr(plait.Module):
    def __init__(self):
        self.classify = plait.Predict(Classify)
        self.explain = plait.Predict("topic: str -> why")

    def forward(self, document: str):
        return self.explain(topic=self.classify(summary=document).topic)


def test_literal_output_feeds_a_str_input():
    plan = plait.compile(LiteralIntoStr()).plan  # topic: Literal[...] is accepted where str is declared
    (port,) = plan.get("literal_into_str.explain").inputs
    assert port.type is str and port.ref == Ref("literal_into_str.classify", "topic")
    assert plan.get("literal_into_str.classify").output("topic").type == Classify.model_fields["topic"].annotation


class Unused(plait.Module):
    def __init__(self):
        self.a = plait.Predict("question -> answer")

    def forward(self, question: str, context: str):
        return self.a(question=question)


def test_unused_input_is_an_error():
    with pytest.raises(plait.PlanError) as err:
        plait.compile(Unused())
    text = str(err.value)
    assert "pipeline input 'context' is never used" in text
    assert "node 'inputs', input 'context'" in text
    assert f"test_verify.py:{line_of(Unused.forward, 'def forward')}" in text
    assert "fix: pass context to a module in forward(), or remove the parameter" in text


def _hand_plan(ref_field="a"):
    src = SourceLoc("/x/prog.py", 12)
    inputs = Node("inputs", Op.INPUT, outputs=(Field("q", str),), source=src)
    step = plait.step(lambda q: q, version="1")
    from plait.ir.nodes import StepParams

    mid = Node("p.s", Op.STEP, (Port("q", str, Ref("inputs", "q")),), (Field("output", str),),
               StepParams(step.func, "x:y", "1"), SourceLoc("/x/prog.py", 13))
    out = Node("outputs", Op.OUTPUT, (Port("r", str, Ref("p.s", ref_field)),), source=SourceLoc("/x/prog.py", 14))
    return Plan("p", [inputs, mid, out])


def test_unknown_field_in_a_plan_is_named_with_a_suggestion():
    with pytest.raises(plait.PlanError) as err:
        verify(_hand_plan(ref_field="outptu"))
    text = str(err.value)
    assert "input 'r' of node 'outputs' reads unknown field 'outptu' of 'p.s'" in text
    assert "prog.py:14" in text
    assert "did you mean 'output'?" in text


def test_a_well_formed_hand_plan_verifies():
    plan = _hand_plan(ref_field="output")
    assert verify(plan) is plan  # accepted and returned unchanged
    compiled = run_passes(plan)
    assert [n.id for n in compiled.nodes] == ["inputs", "p.s", "outputs"]
    assert all(n.fingerprint for n in compiled.nodes)


def _spy(seen):
    def spy(plan):
        seen.append(len(plan))
        return plan

    return spy


def breaks_the_plan(plan):
    return plan.without(["diamond.root"])


def test_with_checks_on_the_verifier_runs_after_every_pass_and_names_the_pass_that_broke_the_plan():
    seen = []
    plan = plait.compile(Diamond()).plan
    run_passes(plan, passes=[_spy(seen), *PASSES])
    assert seen == [len(plan)]
    with pytest.raises(plait.PlanError) as err:
        run_passes(plan, passes=[breaks_the_plan, _spy(seen)])
    text = str(err.value)
    assert "after pass 'breaks_the_plan': input 'a' of node 'diamond.left' reads a node that does not exist" in text
    assert "found:    'diamond.root'" in text and "fix: wire the input to a node of this plan" in text
    assert seen == [len(plan)]  # caught before the next pass ran


def test_with_checks_off_a_broken_plan_is_still_refused_after_the_last_pass(monkeypatch):
    seen = []
    plan = plait.compile(Diamond()).plan
    with plait.context(checks=False), pytest.raises(plait.PlanError) as err:
        run_passes(plan, passes=[breaks_the_plan, _spy(seen)])
    assert "reads a node that does not exist" in str(err.value) and "after pass" not in str(err.value)
    assert seen == [len(plan) - 1]  # the next pass ran on the broken plan
    monkeypatch.setenv("PLAIT_CHECKS", "0")
    with pytest.raises(plait.PlanError, match="reads a node that does not exist"):
        run_passes(plan, passes=[breaks_the_plan, _spy(seen)])
    assert seen == [len(plan) - 1] * 2
    with plait.context(checks=True), pytest.raises(plait.PlanError, match="after pass 'breaks_the_plan'"):
        run_passes(plan, passes=[breaks_the_plan])


def test_prune_drops_nodes_that_reach_no_output():
    class Dead(plait.Module):
        def __init__(self):
            self.a = plait.Predict("question -> answer")
            self.b = plait.Predict("question -> unused")

        def forward(self, question: str):
            self.b(question=question)
            return self.a(question=question)

    plan = plait.compile(Dead()).plan
    assert "dead.b" not in plan and plan.meta["pruned"] == ["dead.b"]


def test_every_node_is_fingerprinted():
    plan = plait.compile(Chain4()).plan
    assert all(n.fingerprint for n in plan.nodes)
    assert len({n.fingerprint for n in plan.of_op(Op.PREDICT)}) == 4

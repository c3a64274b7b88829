"""The HUMAN op in the IR: lowering, verification, type checks, fingerprints, save/load and diff,
and the errors a user gets for a misdeclared question."""

import json

import pytest

import plait
from plait.compiler.verify import verify
from plait.ir.nodes import HumanParams, Op
from tests.human_programs import Review, Reviewed


def _reviewed(**kwargs):
    return plait.compile(Reviewed(**kwargs))


def test_human_input_lowers_to_a_typed_human_node():
    node = _reviewed().plan.node("reviewed.review")
    assert node.op is Op.HUMAN and isinstance(node.params, HumanParams)
    assert [(p.name, p.ref and str(p.ref)) for p in node.inputs] == [("draft", "reviewed.write.draft")]
    assert [(f.name, f.type) for f in node.outputs] == [("approved", bool), ("comment", str)]
    assert node.params.question == "Is this draft good enough to publish?" and node.params.reusable is False


def test_save_and_load_round_trip_keeps_the_question_and_its_deadline(tmp_path):
    compiled = _reviewed(timeout=60, default={"approved": False, "comment": "none"})
    compiled.save(tmp_path / "plan.json")
    loaded = plait.CompiledPipeline.load(tmp_path / "plan.json")
    assert loaded == compiled and repr(loaded) == repr(compiled)
    params = loaded.plan.node("reviewed.review").params
    assert (params.timeout, dict(params.default)) == (60, {"approved": False, "comment": "none"})
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert [n["op"] for n in saved["nodes"]] == ["input", "predict", "human", "step", "output"]


def test_the_fingerprint_and_the_diff_see_a_changed_question_or_deadline():
    plain, timed = _reviewed(), _reviewed(timeout=60, default={"approved": False, "comment": ""})
    a, b = plain.plan.node("reviewed.review"), timed.plan.node("reviewed.review")
    assert a.fingerprint != b.fingerprint
    assert "~ node reviewed.review\n    default: null -> " in plain.diff(timed)
    assert "timeout: null -> 60" in plain.diff(timed)


def test_the_verifier_checks_a_human_nodes_params():
    plan = _reviewed().plan
    broken = plan.replace_nodes([plan.node("reviewed.review").with_(params=None)])
    with pytest.raises(plait.PlanError, match=r"node 'reviewed.review' \(human\) has the wrong parameters"):
        verify(broken)


def test_type_checks_cover_a_human_nodes_answers():
    @plait.step
    def shout(comment: int) -> str:
        return str(comment)

    class Mismatch(plait.Module):
        def __init__(self):
            self.review = plait.HumanInput(Review)

        def forward(self, draft: str):
            return {"out": shout(comment=self.review(draft=draft).comment)}

    with pytest.raises(plait.PlanError, match="input 'comment' of node 'mismatch.shout' is declared int but receives str"):
        plait.compile(Mismatch())


def test_misdeclared_questions_are_refused_at_the_users_line():
    with pytest.raises(plait.TraceError) as err:
        plait.HumanInput(Review, timeout=10)
    assert "needs both timeout= and default=" in str(err.value) and "test_human_plan.py:" in str(err.value)
    with pytest.raises(plait.TraceError) as err:
        plait.HumanInput(Review, timeout=10, default={"approved": "maybe", "comment": ""})
    message = str(err.value)
    assert "default answer of HumanInput does not fit" in message and "expected: approved: bool, comment: str" in message
    assert plait.HumanInput("draft -> ok: bool", timeout=5, default=False).default == {"ok": False}


def test_a_human_input_called_eagerly_or_with_unknown_fields_says_what_to_do():
    with pytest.raises(plait.PlaitError) as err:
        plait.HumanInput(Review)(draft="x")
    assert "cannot be called eagerly" in str(err.value) and "store='runs.db'" in str(err.value)

    class Typo(plait.Module):
        def __init__(self):
            self.review = plait.HumanInput(Review)

        def forward(self, draft: str):
            return self.review(drat=draft)

    with pytest.raises(plait.TraceError, match="unknown input field 'drat' of node 'typo.review'"):
        plait.compile(Typo())


def test_ask_outside_a_running_step_says_where_it_belongs():
    with pytest.raises(plait.PlaitError) as err:
        plait.approve("Go?")
    message = str(err.value)
    assert "plait.ask is called outside a running pipeline node" in message and "@plait.step" in message
    assert "test_human_plan.py:" in message
    with pytest.raises(plait.PlaitError, match="needs both timeout= and default="):
        plait.ask("Title?", timeout=5)

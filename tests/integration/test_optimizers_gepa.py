"""GEPA on a scripted task where the reflection LM can only fix the instruction from the feedback.

The task LM reverses a word only when its instruction says "backwards" (else it is right by luck on
even lengths). The scripted reflection LM writes that instruction only when the examples it is
shown carry the metric's feedback "the answer must be the word spelled in reverse".
"""

import pytest

import plait
from plait.optimizers.evaluate import _item_score, score_and_feedback
from plait.optimizers.gepa import pareto_front
from tests.integration.test_optimizers_fewshot import DEV, TRAIN, Reverse, exact
from tests.integration.test_optimizers_instructions import WINNER

HINT = "the answer must be the word spelled in reverse"


def reflect(task):
    shown = task.inputs["examples_with_feedback"]
    return {"improved_instruction": WINNER if HINT in shown else "Try harder."}


def answer(task):
    if task.node_id == "reflector.improve":
        return reflect(task)
    word = task.inputs["word"]
    knows_how = "backwards" in task.instructions or len(word) % 2 == 0
    return {"reversed": word[::-1] if knows_how else word}


def with_feedback(example, pred):
    ok = example["reversed"] == pred.reversed
    return plait.Score(float(ok), feedback=None if ok else f"{HINT}: expected {example['reversed']!r}")


def gepa(**kwargs):
    return plait.GEPA(**{"max_trials": 4, "minibatch_size": 4, "seed": 0, **kwargs})


def test_gepa_rewrites_the_instruction_from_feedback_and_improves(store_path):
    lm = plait.ScriptedLM(answer)
    plait.configure(lm=lm)
    base = plait.compile(Reverse())
    before = plait.evaluate(base, DEV, exact, store=store_path)
    compiled = plait.compile(Reverse(), optimizer=gepa(), trainset=TRAIN, valset=DEV[:6], metric=with_feedback,
                             store=store_path)
    after = plait.evaluate(compiled, DEV, exact, store=store_path)
    assert before.score < 0.8 and after.score == 1.0
    node = compiled.plan.node("reverse.rev")
    assert node.params.instructions == WINNER
    prov = node.params.provenance
    assert prov["optimizer"] == "GEPA" and prov["pool"] >= 2 and prov["chosen"].startswith("step ")
    changes = base.diff(compiled)
    assert "optimized by: (none) -> GEPA" in changes and WINNER in changes


def test_without_feedback_the_reflection_cannot_help(store_path):
    lm = plait.ScriptedLM(answer)
    compiled = plait.compile(Reverse(), optimizer=gepa(), trainset=TRAIN, valset=DEV[:6], metric=exact,
                             store=store_path, lm=lm)
    assert compiled.plan.node("reverse.rev").params.instructions != WINNER


def test_repeating_gepa_costs_no_lm_call(store_path):
    lm = plait.ScriptedLM(answer)
    first = plait.compile(Reverse(), optimizer=gepa(), trainset=TRAIN, valset=DEV, metric=with_feedback,
                          store=store_path, lm=lm)
    calls = lm.calls
    second = plait.compile(Reverse(), optimizer=gepa(), trainset=TRAIN, valset=DEV, metric=with_feedback,
                           store=store_path, lm=lm)
    assert lm.calls == calls and first == second


def test_the_pareto_front_keeps_every_candidate_best_somewhere():
    scores = [[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 0, 0]]
    assert pareto_front(scores) == {0: 3, 1: 3, 2: 1, 3: 3}  # item 2: everyone ties at 0
    assert pareto_front([[0.2, 0.9], [0.5, 0.1]]) == {1: 1, 0: 1}


@pytest.mark.parametrize("value, expected", [
    (True, (1.0, None)), (0.5, (0.5, None)), (plait.Score(0.0, feedback="why"), (0.0, "why")),
    ((1, "fine"), (1.0, "fine")), ({"score": 0, "feedback": "no"}, (0.0, "no")),
])
def test_metrics_may_return_a_score_with_feedback(value, expected):
    assert score_and_feedback(value) == expected


def test_a_dspy_prediction_with_score_and_feedback_is_read_and_a_bad_value_fails_one_item():
    import dspy

    assert score_and_feedback(dspy.Prediction(score=0.25, feedback="close")) == (0.25, "close")
    result = plait.ItemResult("7", "done", plait.Prediction({"reversed": "x"}))
    scored = _item_score(lambda ex, pred: "not a number", {}, result)
    assert scored.score == 0.0 and "the metric raised ValueError" in scored.error

"""evaluate, LabeledFewShot and BootstrapFewShot on a scripted task that needs demos.

The scripted LM reverses the word correctly only when it has seen demos, or by luck on words of
even length: zero-shot accuracy is about half, with demos it is perfect, so the tests can fail.
"""

from typing import Literal

import pytest

import plait
from plait.ir.nodes import Op
from plait.optimizers.evaluate import bootstrap_interval

WORDS = ["cat", "door", "tree", "plait", "lamp", "river", "stone", "cloud", "apple", "moon",
         "grass", "chair", "bird", "sand", "light", "wolf", "rain", "snow", "fire", "leaf"]


def reverser(task):
    word = task.inputs["word"]
    knows_how = bool(task.demos) or len(word) % 2 == 0
    return {"reversed": word[::-1] if knows_how else word}


class Reverse(plait.Module):
    def __init__(self):
        self.rev = plait.Predict("word -> reversed")

    def forward(self, word: str):
        return self.rev(word=word)


def exact(example, pred):
    return example["reversed"] == pred.reversed


TRAIN = [{"word": w, "reversed": w[::-1]} for w in WORDS[:10]]
DEV = [{"word": w, "reversed": w[::-1]} for w in WORDS[10:]]


def test_evaluate_scores_with_an_interval_and_a_table(store_path):
    lm = plait.ScriptedLM(reverser)
    ev = plait.evaluate(plait.compile(Reverse()), DEV, exact, store=store_path, lm=lm)
    assert ev.score == pytest.approx(sum(len(d["word"]) % 2 == 0 for d in DEV) / len(DEV))
    assert ev.low <= ev.score <= ev.high and ev.high - ev.low > 0
    assert len(ev.table()) == 10 and ev.lm_calls == 10
    assert "score" in str(ev) and "10 items" in str(ev)


def test_repeating_an_evaluation_costs_no_lm_call(store_path):
    lm = plait.ScriptedLM(reverser)
    compiled = plait.compile(Reverse())
    plait.evaluate(compiled, DEV, exact, store=store_path, lm=lm)
    again = plait.evaluate(compiled, DEV, exact, store=store_path, lm=lm)
    assert lm.calls == 10 and again.lm_calls == 0


def test_failed_items_count_as_failures_and_keep_their_error(store_path):
    lm = plait.ScriptedLM(lambda t: "garbage" if t.inputs["word"] == "grass" else reverser(t))
    ev = plait.evaluate(plait.compile(Reverse()), DEV, exact, store=store_path, lm=lm, parse_retries=0)
    (failed,) = ev.failed
    assert failed.score == 0.0 and "reversed" in failed.error


def test_labeled_few_shot_writes_demos_and_provenance(store_path):
    compiled = plait.compile(Reverse(), optimizer=plait.LabeledFewShot(k=3), trainset=TRAIN)
    node = compiled.plan.node("reverse.rev")
    assert len(node.params.demos) == 3 and node.params.provenance["optimizer"] == "LabeledFewShot"
    assert "demos: 3 (from LabeledFewShot)" in repr(compiled)
    lm = plait.ScriptedLM(reverser)
    assert plait.evaluate(compiled, DEV, exact, store=store_path, lm=lm).score == 1.0


def test_bootstrap_few_shot_improves_the_held_out_score(store_path):
    lm = plait.ScriptedLM(reverser)
    plait.configure(lm=lm)
    base = plait.compile(Reverse())
    before = plait.evaluate(base, DEV, exact, store=store_path)
    compiled = plait.compile(Reverse(), optimizer=plait.BootstrapFewShot(max_bootstrapped_demos=2, max_labeled_demos=2),
                             trainset=TRAIN, metric=exact, store=store_path)
    after = plait.evaluate(compiled, DEV, exact, store=store_path)
    assert before.score < 0.8 and after.score == 1.0
    demos = compiled.plan.node("reverse.rev").params.demos
    assert len(demos) == 2 and all(d["reversed"] == d["word"][::-1] for d in demos)  # only passing traces
    prov = compiled.plan.node("reverse.rev").params.provenance
    assert prov["optimizer"] == "BootstrapFewShot" and prov["trainset"] == 10
    assert "demos: 0 -> 2" in base.diff(compiled) and "BootstrapFewShot" in base.diff(compiled)


def test_bootstrapping_again_costs_no_lm_call(store_path):
    lm = plait.ScriptedLM(reverser)
    opt = plait.BootstrapFewShot(max_bootstrapped_demos=2)
    first = plait.compile(Reverse(), optimizer=opt, trainset=TRAIN, metric=exact, store=store_path, lm=lm)
    calls = lm.calls
    second = plait.compile(Reverse(), optimizer=opt, trainset=TRAIN, metric=exact, store=store_path, lm=lm)
    assert lm.calls == calls and first == second


def test_bootstrap_interval_is_sane():
    import numpy as np

    low, high = bootstrap_interval(np.array([1.0] * 50 + [0.0] * 50))
    assert 0.38 < low < 0.5 < high < 0.62


class Sentiment(plait.Signature):
    """Classify the review."""

    review: str = plait.InputField()
    sentiment: Literal["positive", "negative"] = plait.OutputField()


class Classify(plait.Module):
    def __init__(self):
        self.classify = plait.Predict(Sentiment)

    def forward(self, review: str):
        return self.classify(review=review)


def test_bootstrapped_demos_of_one_label_make_room_for_the_other_label(store_path):
    # the trainset opens with five negative reviews: the teacher passes the first four, all negative
    reviews = [("awful", "negative")] * 5 + [("great", "positive")] * 3
    train = [{"review": f"{word} {i}", "sentiment": label} for i, (word, label) in enumerate(reviews)]
    lm = plait.ScriptedLM(lambda t: {"sentiment": "positive" if "great" in t.inputs["review"] else "negative"})
    compiled = plait.compile(Classify(), optimizer=plait.BootstrapFewShot(max_bootstrapped_demos=4, max_labeled_demos=4),
                             trainset=train, metric=lambda ex, p: ex["sentiment"] == p.sentiment,
                             store=store_path, lm=lm)
    (node,) = compiled.plan.of_op(Op.PREDICT)
    assert lm.calls == 4  # the teacher stopped after four passes
    assert [d["sentiment"] for d in node.params.demos] == ["negative", "positive", "negative", "negative"]
    assert node.params.provenance["bootstrapped"] == 3 and node.params.provenance["labeled"] == 1

"""The search optimizers end to end on the embedded model (SmolLM2-135M): few items, few trials.

What must hold on a real model, whatever it answers: the search finishes, the kept candidate
scores at least the unoptimized program on the valset (the program as written is a candidate),
the plan records what was chosen and why, and repeating the optimization costs no LM call.
"""

from __future__ import annotations

from typing import Literal

import pytest

import plait

from tests.local_model import require_local_model

local = require_local_model()
pytestmark = [pytest.mark.local_model, pytest.mark.slow]


class Topic(plait.Signature):
    """Classify the news headline."""

    headline: str = plait.InputField()
    topic: Literal["sports", "politics", "science"] = plait.OutputField()


class Classify(plait.Module):
    def __init__(self):
        self.classify = plait.Predict(Topic)

    def forward(self, headline: str):
        return self.classify(headline=headline)


TRAIN = [{"headline": "Lakers win the championship", "topic": "sports"},
         {"headline": "Senate passes the budget bill", "topic": "politics"},
         {"headline": "New planet discovered near a distant star", "topic": "science"},
         ]
VAL = [{"headline": "President signs a new law", "topic": "politics"},
       {"headline": "Scientists sequence the genome of a frog", "topic": "science"},
       {"headline": "Parliament votes on the election reform", "topic": "politics"}]


def exact(example, pred):
    return example["topic"] == pred.topic


@pytest.fixture(scope="module")
def lm():
    return local.LocalLM(max_tokens=48)


@pytest.mark.parametrize("optimizer", [
    plait.RandomSearch(num_candidates=1, max_labeled_demos=3, max_bootstrapped_demos=2),
    plait.MIPRO(num_instructions=1, num_demo_sets=1, max_bootstrapped_demos=2, num_trials=2, minibatch_size=2,
                full_eval_every=2),
], ids=["RandomSearch", "MIPRO"])
def test_an_optimizer_runs_end_to_end_on_the_embedded_model(optimizer, lm, store_path):
    base = plait.compile(Classify())
    before = plait.evaluate(base, VAL, exact, store=store_path, lm=lm, progress=False)
    compiled = plait.compile(Classify(), optimizer=optimizer, trainset=TRAIN, valset=VAL, metric=exact,
                             store=store_path, lm=lm, progress=False)
    after = plait.evaluate(compiled, VAL, exact, store=store_path, lm=lm, progress=False)
    prov = compiled.plan.node("classify.classify").params.provenance
    print(f"{type(optimizer).__name__}: {before.score:.2f} -> {after.score:.2f}, chose {prov['chosen']}, "
          f"{prov['trials']} trials, {prov['lm_calls']} LM calls")
    assert after.lm_calls == 0  # the chosen candidate was scored on the valset during the search
    assert after.score == prov["score"] >= before.score
    assert prov["optimizer"] == type(optimizer).__name__ and prov["lm_calls"] > 0
    computed = []
    again = plait.compile(Classify(), optimizer=optimizer, trainset=TRAIN, valset=VAL, metric=exact,
                          store=store_path, lm=lm, progress=False,
                          on_event=lambda e: computed.append(e) if getattr(e, "source", None) == "lm" else None)
    assert again == compiled and computed == []


class Counted:
    """The embedded model, every request counted (its identity unchanged)."""

    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, 0
        self.max_concurrency, self.adapter = inner.max_concurrency, getattr(inner, "adapter", "compact")

    def identity(self):
        return self.inner.identity()

    async def acall(self, request):
        self.calls += 1
        return await self.inner.acall(request)


def test_max_lm_calls_caps_what_the_embedded_model_is_asked(lm, store_path):
    counted, cap = Counted(lm), len(VAL) + 2  # zero-shot's evaluation, then a candidate cut short
    compiled = plait.compile(Classify(), optimizer=plait.RandomSearch(num_candidates=2, max_labeled_demos=3,
                                                                      max_lm_calls=cap),
                             trainset=TRAIN, valset=VAL, metric=exact, store=store_path, lm=counted, progress=False)
    prov = compiled.plan.node("classify.classify").params.provenance
    assert counted.calls == prov["lm_calls"] <= cap and prov["chosen"] == "zero-shot"


def test_bootstrapped_demos_of_a_label_cover_the_labels_whatever_the_model_answers(lm, store_path):
    # six headlines, two per topic; three demos must show the three topics, whichever traces passed
    train = TRAIN + [{"headline": "Striker scores twice in the derby", "topic": "sports"}, *VAL[:2]]
    counted, optimizer = Counted(lm), plait.BootstrapFewShot(max_bootstrapped_demos=2, max_labeled_demos=3)
    compiled = plait.compile(Classify(), optimizer=optimizer, trainset=train, metric=exact, store=store_path,
                             lm=counted, progress=False)
    demos = compiled.plan.node("classify.classify").params.demos
    prov = compiled.plan.node("classify.classify").params.provenance
    assert sorted(d["topic"] for d in demos) == ["politics", "science", "sports"]
    assert prov["bootstrapped"] + prov["labeled"] == 3 and prov["tried"] <= counted.calls

"""RandomSearch on a scripted task where only candidates with enough demos answer right.

The scripted LM reverses a word correctly only when its prompt has at least three demos, or by luck
on words of even length: zero-shot scores about half, a one- or two-demo set no better, and a
candidate with three or more demos scores 1.0. So the search must find such a candidate.
"""

import pytest

import plait
from plait.runtime import events as ev
from tests.integration.test_optimizers_fewshot import DEV, TRAIN, Reverse, exact


def needs_three_demos(task):
    word = task.inputs["word"]
    knows_how = len(task.demos) >= 3 or len(word) % 2 == 0
    return {"reversed": word[::-1] if knows_how else word}


def search(**kwargs):
    return plait.RandomSearch(**{"num_candidates": 4, "max_labeled_demos": 0, "max_bootstrapped_demos": 4, **kwargs})


def test_random_search_improves_the_held_out_score(store_path):
    lm = plait.ScriptedLM(needs_three_demos)
    plait.configure(lm=lm)
    base = plait.compile(Reverse())
    before = plait.evaluate(base, DEV, exact, store=store_path)
    compiled = plait.compile(Reverse(), optimizer=search(), trainset=TRAIN, valset=DEV[:5], metric=exact,
                             store=store_path)
    after = plait.evaluate(compiled, DEV, exact, store=store_path)
    assert before.score < 0.8 and after.score == 1.0
    node = compiled.plan.node("reverse.rev")
    assert len(node.params.demos) >= 3
    prov = node.params.provenance
    assert prov["optimizer"] == "RandomSearch" and prov["score"] == 1.0 and prov["trials"] == 6
    assert prov["candidates"]["zero-shot"] < 1.0 and prov["demos_from"] == "BootstrapFewShot"
    assert f"chosen by RandomSearch: {prov['chosen']} (score 1.000 on 5 items, 6 trials)" in repr(compiled)
    changes = base.diff(compiled)
    assert "demos: 0 -> " in changes and "optimized by: (none) -> RandomSearch" in changes
    assert f"  chosen: {prov['chosen']} (score 1.0 on 5 items, 6 trials" in changes and "candidate zero-shot: " in changes


def test_repeating_a_random_search_costs_no_lm_call_and_gives_the_same_plan(store_path):
    lm = plait.ScriptedLM(needs_three_demos)
    first = plait.compile(Reverse(), optimizer=search(seed=3), trainset=TRAIN, valset=DEV, metric=exact,
                          store=store_path, lm=lm)
    calls = lm.calls
    second = plait.compile(Reverse(), optimizer=search(seed=3), trainset=TRAIN, valset=DEV, metric=exact,
                           store=store_path, lm=lm)
    assert lm.calls == calls and first == second
    assert first.plan.node("reverse.rev").params.provenance["lm_calls"] <= calls


def test_budgets_stop_the_search_early_and_say_so(store_path):
    lm = plait.ScriptedLM(needs_three_demos)
    events = []
    compiled = plait.compile(Reverse(), optimizer=search(max_trials=2), trainset=TRAIN, valset=DEV, metric=exact,
                             store=store_path, lm=lm, on_event=events.append)
    prov = compiled.plan.node("reverse.rev").params.provenance
    assert prov["trials"] == 2 and set(prov["candidates"]) == {"zero-shot", "bootstrapped (4)"}
    trials = [e for e in events if isinstance(e, ev.TrialFinished)]
    assert [t.trial for t in trials] == [0, 1] and trials[-1].best == prov["score"]
    assert trials[0].lm_calls == 10 and trials[-1].lm_calls == prov["lm_calls"]
    (done,) = [e for e in events if isinstance(e, ev.OptimizationFinished)]
    assert done.chosen == prov["chosen"] and done.trials == 2
    capped = plait.compile(Reverse(), optimizer=search(max_lm_calls=5), trainset=TRAIN, valset=DEV, metric=exact,
                           store=store_path, lm=lm)
    assert capped.plan.node("reverse.rev").params.provenance["trials"] == 1  # zero-shot alone spent 10


def test_a_malformed_output_lowers_a_score_and_never_aborts_the_search(store_path):
    def flaky(task):
        return "garbage" if task.inputs["word"] == "grass" else needs_three_demos(task)

    lm = plait.ScriptedLM(flaky)
    compiled = plait.compile(Reverse(), optimizer=search(), trainset=TRAIN, valset=DEV, metric=exact,
                             store=store_path, lm=lm, parse_retries=0)
    assert compiled.plan.node("reverse.rev").params.provenance["score"] == pytest.approx(0.9)
    calls = lm.calls
    again = plait.compile(Reverse(), optimizer=search(), trainset=TRAIN, valset=DEV, metric=exact,
                          store=store_path, lm=lm, parse_retries=0)
    assert lm.calls == calls and again == compiled  # the reply that never parsed is not asked again

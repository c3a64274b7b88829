"""An optimizer's LM calls are requests sent, re-asks included: what its trials report, what
``max_lm_calls`` caps, and what the LM really served agree (DESIGN.md, contract 11)."""

import plait
from plait.runtime import events as ev
from tests.integration.test_optimizers_fewshot import DEV, TRAIN, Reverse, exact
from tests.integration.test_optimizers_random_search import needs_three_demos, search


def garbled_without_demos(task):
    """Zero-shot, an odd-length word gets a reply that never parses (three requests, no output)."""
    if not task.demos and len(task.inputs["word"]) % 2:
        return "I cannot say"
    return needs_three_demos(task)


def test_trials_count_every_request_and_max_lm_calls_caps_them(store_path):
    lm = plait.ScriptedLM(garbled_without_demos)
    events = []
    plait.compile(Reverse(), optimizer=search(max_trials=1), trainset=TRAIN, valset=DEV, metric=exact,
                  store=store_path, lm=lm, on_event=events.append)
    (trial,) = [e for e in events if isinstance(e, ev.TrialFinished)]
    garbled = sum(len(d["word"]) % 2 for d in DEV)
    assert garbled > 0 and trial.lm_calls == lm.calls == len(DEV) + 2 * garbled  # each garbled word asked 3 times
    capped_lm = plait.ScriptedLM(garbled_without_demos)
    capped = plait.compile(Reverse(), optimizer=search(max_lm_calls=len(DEV) + 1), trainset=TRAIN, valset=DEV,
                           metric=exact, store=store_path.replace(".db", "-capped.db"), lm=capped_lm)
    prov = capped.plan.node("reverse.rev").params.provenance
    # the cap is hard: the first trial's evaluation is cut at the budget, and the search ends there
    assert prov["trials"] == 1 and prov["lm_calls"] == capped_lm.calls == len(DEV) + 1 < trial.lm_calls


def test_max_lm_calls_cuts_a_trial_short_and_never_chooses_it(store_path):
    lm = plait.ScriptedLM(needs_three_demos)
    cap = len(DEV) + 5  # zero-shot's evaluation costs len(DEV); the next candidate cannot finish
    compiled = plait.compile(Reverse(), optimizer=search(max_lm_calls=cap), trainset=TRAIN, valset=DEV,
                             metric=exact, store=store_path, lm=lm)
    prov = compiled.plan.node("reverse.rev").params.provenance
    assert lm.calls == prov["lm_calls"] == cap  # spent exactly to the budget, never past it
    # the next candidate's teacher run is cut: that candidate is never evaluated, zero-shot is chosen
    assert prov["chosen"] == "zero-shot" and prov["trials"] == 1


def test_an_evaluation_cut_by_max_lm_calls_is_logged_but_never_chosen(store_path):
    # labeled demos cost no call to build: the cap cuts that candidate's evaluation, which scored its
    # stopped items 0 (here it would have scored better than zero-shot had it finished)
    lm = plait.ScriptedLM(needs_three_demos)
    cap = len(DEV) + 3
    compiled = plait.compile(Reverse(), optimizer=search(max_lm_calls=cap, max_labeled_demos=4), trainset=TRAIN,
                             valset=DEV, metric=exact, store=store_path, lm=lm)
    prov = compiled.plan.node("reverse.rev").params.provenance
    assert lm.calls == prov["lm_calls"] == cap and prov["trials"] == 2
    assert prov["chosen"] == "zero-shot" and set(prov["candidates"]) == {"zero-shot", "labeled (4)"}

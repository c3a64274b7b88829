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
    assert prov["trials"] == 1 and prov["lm_calls"] == capped_lm.calls == trial.lm_calls  # stopped after the first

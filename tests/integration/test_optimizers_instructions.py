"""ProposeInstructions and MIPRO on a scripted task that needs the right instruction (and demos).

The scripted task LM reverses a word only when its instruction says "backwards" (MIPRO's task also
needs two or more demos); otherwise it is right by luck on words of even length. The scripted
prompt LM proposes "backwards" for one tip in three: the search must find that proposal.
"""

from pathlib import Path

import pytest

import plait
from plait.runtime import events as ev
from tests.integration.test_optimizers_fewshot import DEV, TRAIN, Reverse, exact

WINNER = "Spell the word backwards, last letter first."


def propose(task):
    tip = task.inputs["tip"]
    good = "step by step" in tip or "format" in tip
    return {"proposed_instruction": WINNER if good else f"Answer the question. ({tip})"}


def answer(task, demos_needed=0):
    if task.node_id == "proposer.propose":
        return propose(task)
    word = task.inputs["word"]
    knows_how = ("backwards" in task.instructions and len(task.demos) >= demos_needed) or len(word) % 2 == 0
    return {"reversed": word[::-1] if knows_how else word}


def test_proposed_instructions_improve_the_held_out_score(store_path):
    lm = plait.ScriptedLM(answer, record=True)
    plait.configure(lm=lm)
    base = plait.compile(Reverse())
    before = plait.evaluate(base, DEV, exact, store=store_path)
    compiled = plait.compile(Reverse(), optimizer=plait.ProposeInstructions(n=4), trainset=TRAIN, valset=DEV[:6],
                             metric=exact, store=store_path)
    after = plait.evaluate(compiled, DEV, exact, store=store_path)
    assert before.score < 0.8 and after.score == 1.0
    node = compiled.plan.node("reverse.rev")
    assert node.params.instructions == WINNER and node.params.provenance["optimizer"] == "ProposeInstructions"
    asked = [r.task for r in lm.requests if r.task.node_id == "proposer.propose"]
    assert len(asked) == 4 and "examples with the fields reversed, word" in asked[0].inputs["dataset"]
    assert "reverse.rev (word -> reversed)" in asked[0].inputs["program"]
    assert "inputs {\"word\":" in asked[0].inputs["examples"]  # traces of the node
    assert "instructions:" in base.diff(compiled) and WINNER in base.diff(compiled)


def test_a_separate_prompt_lm_writes_the_proposals_and_repeating_costs_nothing(store_path):
    task_lm = plait.ScriptedLM(answer)
    prompt_lm = plait.ScriptedLM(propose, name="prompter")
    opt = plait.ProposeInstructions(prompt_lm=prompt_lm, n=3)
    first = plait.compile(Reverse(), optimizer=opt, trainset=TRAIN, valset=DEV, metric=exact, store=store_path,
                          lm=task_lm)
    assert prompt_lm.calls == 3 and task_lm.calls > 0
    calls = (task_lm.calls, prompt_lm.calls)
    second = plait.compile(Reverse(), optimizer=opt, trainset=TRAIN, valset=DEV, metric=exact, store=store_path,
                           lm=task_lm)
    assert (task_lm.calls, prompt_lm.calls) == calls and first == second


def mipro(**kwargs):
    return plait.MIPRO(**{"num_instructions": 3, "num_demo_sets": 3, "num_trials": 10, "minibatch_size": 4,
                          "full_eval_every": 3, "seed": 0, **kwargs})


def test_mipro_finds_the_instruction_and_demos_together(store_path):
    lm = plait.ScriptedLM(lambda t: answer(t, demos_needed=2))
    plait.configure(lm=lm)
    base = plait.compile(Reverse())
    before = plait.evaluate(base, DEV, exact, store=store_path)
    events = []
    compiled = plait.compile(Reverse(), optimizer=mipro(), trainset=TRAIN, valset=DEV[:6], metric=exact,
                             store=store_path, on_event=events.append)
    after = plait.evaluate(compiled, DEV, exact, store=store_path)
    assert before.score < 0.8 and after.score == 1.0
    node = compiled.plan.node("reverse.rev")
    assert node.params.instructions == WINNER and len(node.params.demos) >= 2
    prov = node.params.provenance
    assert prov["optimizer"] == "MIPRO" and prov["chosen"].startswith("full: ") and prov["score"] == 1.0
    assert prov["full_evaluations"] >= 2
    trials = [e for e in events if isinstance(e, ev.TrialFinished)]
    assert sum(t.candidate.startswith("trial ") for t in trials) == 10 and trials[-1].best == 1.0
    assert list(Path(f"{store_path}.optuna").glob("mipro-*.log"))  # the study is journaled beside the store


def test_repeating_mipro_loads_its_trials_and_costs_no_lm_call(store_path):
    import optuna

    lm = plait.ScriptedLM(lambda t: answer(t, demos_needed=2))
    first = plait.compile(Reverse(), optimizer=mipro(), trainset=TRAIN, valset=DEV, metric=exact, store=store_path,
                          lm=lm)
    calls = lm.calls
    second = plait.compile(Reverse(), optimizer=mipro(), trainset=TRAIN, valset=DEV, metric=exact, store=store_path,
                           lm=lm)
    assert lm.calls == calls and first == second
    (log,) = Path(f"{store_path}.optuna").glob("mipro-*.log")
    study = optuna.load_study(study_name=log.stem, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(log))))
    assert len(study.trials) == 10  # loaded, not asked again


def test_mipro_budget_in_lm_calls_stops_it_early(store_path, tmp_path):
    lm = plait.ScriptedLM(lambda t: answer(t, demos_needed=2))
    full = plait.compile(Reverse(), optimizer=mipro(), trainset=TRAIN, valset=DEV, metric=exact,
                         store=str(tmp_path / "full.db"), lm=lm).plan.node("reverse.rev").params.provenance
    capped = plait.compile(Reverse(), optimizer=mipro(max_lm_calls=60), trainset=TRAIN, valset=DEV,
                           metric=exact, store=store_path, lm=lm).plan.node("reverse.rev").params.provenance
    assert capped["trials"] < full["trials"] and 60 <= capped["lm_calls"] < full["lm_calls"]


@pytest.mark.parametrize("bad", [{"num_trials": 0}, {"minibatch_size": -1}, {"max_lm_calls": 2.5}])
def test_a_bad_budget_is_refused_before_any_call(store_path, bad):
    lm = plait.ScriptedLM(answer)
    name = next(iter(bad))
    with pytest.raises(plait.OptimizerError) as info:
        plait.compile(Reverse(), optimizer=mipro(**bad), trainset=TRAIN, metric=exact, store=store_path, lm=lm)
    message = str(info.value)
    assert f"MIPRO's budget {name}=" in message and f"argument '{name}'" in message
    assert "test_optimizers_instructions.py:" in message and "fix: pass" in message and lm.calls == 0

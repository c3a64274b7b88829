"""GEPA's merge step on a scripted two-node program whose reflection can fix each node only from
the unfixed program: no line of rewrites fixes both, a merge of two lines does. (The first node is
right by luck on words of even length, so the unfixed program stays on the Pareto front.)"""

import random
from types import SimpleNamespace

import plait
from plait.optimizers.gepa_merge import ancestors, merged_instructions, pick_merge
from plait.runtime import events as ev

WORDS = ["cat", "door", "tree", "plait", "lamp", "river", "stone", "cloud", "apple", "moon", "grass", "chair",
         "bird", "sand", "light", "wolf"]
ROWS = [{"word": w, "shout": w[::-1].upper()} for w in WORDS]
BACKWARDS, CAPITALS = "Spell the word backwards.", "Repeat the text in capitals."


class ReverseShout(plait.Module):
    def __init__(self):
        self.first = plait.Predict("word -> reversed")
        self.second = plait.Predict("reversed -> shout")

    def forward(self, word: str):
        return self.second(reversed=self.first(word=word).reversed)


def answer(task):
    if task.node_id == "reflector.improve":
        shown, step = task.inputs["examples_with_feedback"], task.inputs["step"]
        both_wrong = "wrong order" in shown and "not loud" in shown  # fixes come only from the unfixed program
        if "shout" in step.split("->")[1]:
            return {"improved_instruction": CAPITALS if both_wrong else "Copy the text."}
        return {"improved_instruction": BACKWARDS if both_wrong else "Copy the word."}
    if task.node_id == "reverse_shout.first":
        word = task.inputs["word"]
        return {"reversed": word[::-1] if "backwards" in task.instructions or len(word) % 2 == 0 else word}
    text = task.inputs["reversed"]
    return {"shout": text.upper() if "capitals" in task.instructions else text}


def right(example, pred):
    reversed_ok, loud = pred.shout.lower() == example["word"][::-1], pred.shout.isupper()
    feedback = ([] if reversed_ok else ["wrong order"]) + ([] if loud else ["not loud"])
    return plait.Score(0.5 * reversed_ok + 0.5 * loud, feedback="; ".join(feedback) or None)


def optimize(store_path, **settings):
    events = []
    compiled = plait.compile(ReverseShout(), optimizer=plait.GEPA(**{"max_trials": 8, "seed": 0, **settings}),
                             trainset=ROWS[:8], valset=ROWS[8:], metric=right, store=store_path,
                             lm=plait.ScriptedLM(answer), progress=False, on_event=events.append)
    steps = [e.candidate for e in events if isinstance(e, ev.TrialFinished)]
    return compiled, steps


def test_a_merge_combines_two_lines_that_each_fixed_one_node(store_path):
    compiled, steps = optimize(store_path)
    assert compiled.plan.node("reverse_shout.first").params.instructions == BACKWARDS
    assert compiled.plan.node("reverse_shout.second").params.instructions == CAPITALS
    chosen = compiled.plan.node("reverse_shout.first").params.provenance
    assert chosen["score"] == 1.0 and "merge of #" in chosen["chosen"]
    assert any("merge of #" in s for s in steps)


def test_without_merges_no_line_fixes_both_nodes(tmp_path):
    compiled, steps = optimize(tmp_path / "runs.db", max_merges=0)
    assert compiled.plan.node("reverse_shout.first").params.provenance["score"] < 1.0
    assert not any("merge" in s for s in steps)


def test_repeating_a_merging_search_costs_no_lm_call(store_path):
    first, _ = optimize(store_path)
    lm = plait.ScriptedLM(answer)
    again = plait.compile(ReverseShout(), optimizer=plait.GEPA(max_trials=8, seed=0), trainset=ROWS[:8],
                          valset=ROWS[8:], metric=right, store=store_path, lm=lm, progress=False)
    assert lm.calls == 0 and again == first


def test_the_merge_keeps_each_change_relative_to_the_common_ancestor():
    base = {"a": "A0", "b": "B0", "c": "C0"}
    first, second = {"a": "A1", "b": "B0", "c": "C1"}, {"a": "A0", "b": "B2", "c": "C2"}
    assert merged_instructions(base, first, second, first_better=True) == {"a": "A1", "b": "B2", "c": "C1"}
    assert merged_instructions(base, first, second, first_better=False) == {"a": "A1", "b": "B2", "c": "C2"}
    assert merged_instructions(base, first, base, first_better=True) is None  # nothing new: that is `first`
    assert ancestors([(), (0,), (0,), (1, 2)], 3) == {0, 1, 2}


def test_no_merge_between_a_candidate_and_its_own_ancestor():
    def candidate(parents, **instructions):
        nodes = [SimpleNamespace(id=k, params=SimpleNamespace(instructions=v)) for k, v in instructions.items()]
        plan = SimpleNamespace(of_op=lambda op: nodes)
        return SimpleNamespace(parents=parents, mean=0.5, compiled=SimpleNamespace(plan=plan))

    pool = [candidate((), a="A0", b="B0"), candidate((0,), a="A1", b="B0"), candidate((1,), a="A1", b="B1")]
    assert pick_merge(pool, [0, 1, 2], random.Random(0), set()) is None  # one line: nothing to merge
    pool.append(candidate((0,), a="A0", b="B3"))
    assert pick_merge(pool, [1, 3], random.Random(0), set()) == (1, 3, {"a": "A1", "b": "B3"})
    assert pick_merge(pool, [1, 3], random.Random(0), {(1, 3)}) is None  # tried already

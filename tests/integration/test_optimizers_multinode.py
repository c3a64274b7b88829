"""The search optimizers on a two-node program: each node gets its own instruction and demos.

``first`` reverses the word only when its instruction says "backwards"; ``second`` shouts (upper
case) only when it has demos. Both happen by luck on words of even length, so the unoptimized
program passes only those, and its passing traces give both nodes demos to draw from.
"""

import plait
from plait.runtime import events as ev
from tests.integration.test_optimizers_fewshot import WORDS
from tests.integration.test_optimizers_instructions import WINNER, propose
from tests.integration.test_optimizers_gepa import HINT


class ReverseShout(plait.Module):
    def __init__(self):
        self.first = plait.Predict("word -> reversed")
        self.second = plait.Predict("reversed -> shout")

    def forward(self, word: str):
        return self.second(reversed=self.first(word=word).reversed)


def answer(task):
    if task.node_id == "proposer.propose":
        return propose(task)
    if task.node_id == "reflector.improve":
        shown, produces = task.inputs["examples_with_feedback"], task.inputs["step"].split("->")[1]
        if "shout" in produces:
            return {"improved_instruction": CAPITALS if "capitals" in shown else "Copy the input."}
        return {"improved_instruction": WINNER if HINT in shown else "Copy the input."}
    if task.node_id == "reverse_shout.first":
        word = task.inputs["word"]
        return {"reversed": word[::-1] if "backwards" in task.instructions or len(word) % 2 == 0 else word}
    text = task.inputs["reversed"]
    shouts = task.demos or "capitals" in task.instructions or len(text) % 2 == 0
    return {"shout": text.upper() if shouts else text}


CAPITALS = "Repeat the text in capitals."


def right(example, pred):
    """Half for the letters in reverse order, half for the capitals: each node's fix shows alone."""
    reversed_ok, loud = pred.shout.lower() == example["word"][::-1], pred.shout.isupper()
    feedback = [] if reversed_ok else [HINT]
    feedback += [] if loud else ["write it in capitals"]
    return plait.Score(0.5 * reversed_ok + 0.5 * loud, feedback="; ".join(feedback) or None)


ROWS = [{"word": w, "shout": w[::-1].upper()} for w in WORDS]
TRAIN, VAL = ROWS[:10], ROWS[10:16]


def test_mipro_tunes_each_node_of_a_two_node_program(store_path):
    lm = plait.ScriptedLM(answer)
    plait.configure(lm=lm)
    before = plait.evaluate(plait.compile(ReverseShout()), ROWS[10:], right, store=store_path)
    compiled = plait.compile(ReverseShout(), optimizer=plait.MIPRO(num_trials=16, minibatch_size=4, seed=1),
                             trainset=TRAIN, valset=VAL, metric=right, store=store_path)
    after = plait.evaluate(compiled, ROWS[10:], right, store=store_path)
    first, second = compiled.plan.node("reverse_shout.first"), compiled.plan.node("reverse_shout.second")
    assert before.score < 0.8 and after.score == 1.0
    assert first.params.instructions == WINNER and second.params.demos
    assert first.params.provenance["chosen"] == second.params.provenance["chosen"]  # one joint choice


def test_gepa_rewrites_nodes_in_turn_and_reports_each_step(store_path):
    lm = plait.ScriptedLM(answer)
    events = []
    compiled = plait.compile(ReverseShout(), optimizer=plait.GEPA(max_trials=4, seed=0), trainset=TRAIN,
                             valset=VAL, metric=right, store=store_path, lm=lm, on_event=events.append)
    assert compiled.plan.node("reverse_shout.first").params.instructions == WINNER
    assert compiled.plan.node("reverse_shout.second").params.instructions == CAPITALS
    assert plait.evaluate(compiled, ROWS[10:], right, store=store_path, lm=lm).score == 1.0
    assert all(n.params.provenance["optimizer"] == "GEPA" for n in compiled.plan.of_op(plait.ir.nodes.Op.PREDICT))
    steps = [e.candidate for e in events if isinstance(e, ev.TrialFinished)]
    assert steps[0].startswith("seed") and any(": second rewritten" in s for s in steps)

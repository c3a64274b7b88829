"""The child process of the optimization crash tests: run MIPRO on a scripted task, durably.

Usage::

    python optimize_job.py STORE CALLS_FILE [mipro|gepa|random]

Prints ``RESULT <json>`` at the end: the optimized plan's nodes (prompts, demos, provenance) and
the LM calls this process made. The scripted LM appends one line per call to CALLS_FILE before
it returns, so a SIGKILL leaves the calls in flight counted. Its answers are a deterministic
function of the prompt, and one word always gets a malformed reply (a failed item that lowers a
candidate's score, never the search). Self-contained: it imports only plait.
"""

from __future__ import annotations

import json
import sys

import plait

CONCURRENCY = 4  # items in flight; each runs one LM node at a time
# What a kill can repeat: the calls in flight, one per item at most; a node re-asking for a well-formed
# reply ("storm") journals each reply before its re-ask goes out, so only the re-ask in flight repeats.
MAX_IN_FLIGHT = CONCURRENCY
PARSE_RETRIES = 2  # plait's default, pinned: the re-asks of the one word whose replies never parse
LATENCY = 0.005
WORDS = ["cat", "door", "tree", "plait", "lamp", "river", "stone", "cloud", "apple", "moon", "grass", "chair",
         "bird", "sand", "light", "wolf", "rain", "snow", "fire", "leaf", "ocean", "pine", "storm", "brick"]
WINNER = "Spell the word backwards, last letter first."


class Reverse(plait.Module):
    def __init__(self):
        self.rev = plait.Predict("word -> reversed")

    def forward(self, word: str):
        return self.rev(word=word)


def answer(task):
    if task.node_id == "reflector.improve":
        shown = task.inputs["examples_with_feedback"]
        return {"improved_instruction": WINNER if "in reverse" in shown else "Answer carefully."}
    if task.node_id == "proposer.propose":
        good = "step by step" in task.inputs["tip"] or "format" in task.inputs["tip"]
        return {"proposed_instruction": WINNER if good else f"Answer well. ({task.inputs['tip']})"}
    word = task.inputs["word"]
    if word == "storm":  # in the valset: some candidates score it, always as a failure
        return "garbage"
    knows_how = ("backwards" in task.instructions and len(task.demos) >= 2) or len(word) % 2 == 0
    return {"reversed": word[::-1] if knows_how else word}


def exact(example, pred):
    ok = example["reversed"] == pred.reversed
    return plait.Score(float(ok), feedback=None if ok else "the answer is the word spelled in reverse")


def data() -> tuple[list[dict], list[dict]]:
    rows = [{"word": w, "reversed": w[::-1]} for w in WORDS]
    return rows[:12], rows[12:]


OPTIMIZERS = {
    "mipro": lambda: plait.MIPRO(num_instructions=3, num_demo_sets=3, num_trials=12, minibatch_size=4,
                                 full_eval_every=4, seed=7),
    "gepa": lambda: plait.GEPA(max_trials=6, minibatch_size=4, seed=7),
    "random": lambda: plait.RandomSearch(num_candidates=6, max_labeled_demos=0, seed=7),
}


def optimize(store: str, lm: plait.ScriptedLM, name: str = "mipro") -> plait.CompiledPipeline:
    train, val = data()
    return plait.compile(Reverse(), optimizer=OPTIMIZERS[name](), trainset=train, valset=val, metric=exact,
                         store=store, lm=lm, concurrency=CONCURRENCY, parse_retries=PARSE_RETRIES, progress=False)


def main(argv: list[str]) -> int:
    store, calls_file, *name = argv
    lm = plait.ScriptedLM(answer, calls_file=calls_file, latency=LATENCY)
    compiled = optimize(store, lm, *name)
    print("RESULT " + json.dumps({"nodes": compiled.to_json()["nodes"], "lm_calls": lm.calls}, sort_keys=True),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

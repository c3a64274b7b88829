"""The child process of the durable-optimizer kill tests: DSPy's own BootstrapFewShot or MIPROv2,
run with plait.durable_lm underneath.

Usage::

    python durable_optimize_job.py STORE CALLS_FILE RUN_ID OPTIMIZER      (bootstrap or mipro)

Run twice with the same arguments: the second run replays every call the first recorded. Prints
``RESULT <json>``: the optimized program's demos, and the calls made and replayed in this process.
The LM appends one line per call to CALLS_FILE before it answers.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.crash.*

import dspy  # noqa: E402

import plait  # noqa: E402
from tests.crash import durable_programs as programs  # noqa: E402

LATENCY = 0.01
TRAINSET = [dspy.Example(question=f"question {i}: what follows {i * 7 % 13}?", answer="x").with_inputs("question")
            for i in range(30)]


def metric(example, prediction, trace=None) -> bool:
    """Deterministic and picky (about 1 in 4 passes), so that bootstrapping walks most of the trainset."""
    return int(hashlib.sha256(prediction.answer.encode()).hexdigest(), 16) % 4 == 0


def optimize(lm: dspy.BaseLM, optimizer: str = "bootstrap") -> dict:
    """The optimized Chain's prompt state per predictor: instructions and demos."""
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        if optimizer == "bootstrap":
            optimized = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=3, max_labeled_demos=0,
                                              max_rounds=1).compile(programs.Chain(), trainset=TRAINSET)
        else:  # two threads: calls of two candidates are in flight at once
            mipro = dspy.MIPROv2(metric=metric, auto=None, num_candidates=2, num_threads=2, seed=0, verbose=False)
            optimized = mipro.compile(programs.Chain(), trainset=TRAINSET[:10], valset=TRAINSET[10:16], num_trials=3,
                                      max_bootstrapped_demos=1, max_labeled_demos=1, minibatch=False)
    return {name: {"instructions": p.signature.instructions, "demos": [dict(d) for d in p.demos]}
            for name, p in optimized.named_predictors()}


def main(argv: list[str]) -> int:
    store, calls_file, run_id, optimizer = argv
    with plait.durable_lm(programs.EchoDSPyLM(calls_file=calls_file, latency=LATENCY), store=store, run_id=run_id) as lm:
        state = optimize(lm, optimizer)
    result = {"state": state, "made": lm.calls_made, "replayed": lm.calls_replayed}
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

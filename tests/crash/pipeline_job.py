"""The child process of the crash tests: run (or resume) a 4-LM-node pipeline over N items.

Usage::

    python pipeline_job.py run    STORE CALLS_FILE ITEMS
    python pipeline_job.py resume STORE CALLS_FILE ITEMS RUN_ID

Both modes print ``RUN <run id>`` (flushed) as soon as the run exists, and at the end one line
``RESULT <json>`` with the run's id, status, LM calls (this invocation's), every item's outputs
and the run's totals over every invocation. The scripted LM appends one line per call to
CALLS_FILE before the call returns, so a SIGKILL mid-run leaves the calls in flight counted. Its
answers are a deterministic function of the node and its inputs, so a killed-and-resumed run can
be compared with an uninterrupted one.

The file is self-contained (it imports only plait) so that it runs as a script from any cwd.
"""

from __future__ import annotations

import hashlib
import json
import sys

import plait

CONCURRENCY = 8  # items in flight
MAX_IN_FLIGHT = 2 * CONCURRENCY  # each item's two parallel branches can call at once
LATENCY = 0.01  # seconds per scripted call: 800 calls at concurrency 8 take about a second


class Diamond(plait.Module):
    """Four LM nodes: a root, two branches reading it, and a node joining the branches."""

    def __init__(self):
        self.root = plait.Predict("question -> a")
        self.left = plait.Predict("a -> b")
        self.right = plait.Predict("a -> c")
        self.final = plait.Predict("b, c -> answer")

    def forward(self, question: str):
        a = self.root(question=question).a
        return self.final(b=self.left(a=a).b, c=self.right(a=a).c)


def answer(task) -> dict[str, str]:
    """Each output field is '<field>:<digest of node id and inputs>': deterministic, short."""
    seen = json.dumps([task.node_id, task.inputs], sort_keys=True)
    digest = hashlib.sha256(seen.encode()).hexdigest()[:16]
    return {name: f"{name}:{digest}" for name in task.output_fields}


def make_lm(calls_file: str | None = None, latency: float = LATENCY) -> plait.ScriptedLM:
    return plait.ScriptedLM(answer, calls_file=calls_file, latency=latency)


def items(count: int) -> list[dict[str, str]]:
    return [{"question": f"question {i}: what follows {i * 7 % 13}?"} for i in range(count)]


def item_ids(count: int) -> list[str]:
    return [f"item-{i:04d}" for i in range(count)]


def outputs_of(run: plait.Run) -> dict[str, dict | None]:
    return {r.item_id: (dict(r.outputs) if r.outputs is not None else None) for r in run.items}


def _announce(event) -> None:
    if isinstance(event, plait.events.RunStarted):
        print(f"RUN {event.run_id}", flush=True)


def main(argv: list[str]) -> int:
    mode, store, calls_file, count = argv[0], argv[1], argv[2], int(argv[3])
    lm = make_lm(calls_file)
    options = dict(store=store, lm=lm, concurrency=CONCURRENCY, progress=False, on_event=_announce)
    if mode == "run":
        run = plait.compile(Diamond()).run(items(count), ids=item_ids(count), **options)
    elif mode == "resume":
        run = plait.resume(argv[4], **options)
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected run or resume")
    result = {"run_id": run.id, "status": run.status, "lm_calls": run.stats.lm_calls, "outputs": outputs_of(run),
              "totals": run.totals.as_dict()}
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0 if run.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The child process of the loop crash tests: run (or resume) a 30-iteration ReAct agent.

Usage::

    python loop_job.py run    STORE CALLS_FILE
    python loop_job.py resume STORE CALLS_FILE RUN_ID

``$PLAIT_TOOL_LOG`` names the file the tool appends one line per call to (with its idempotency
key). The scripted LM appends one line per call to CALLS_FILE as the call starts, so a SIGKILL
leaves the call in flight counted. Prints ``RUN <id>`` as soon as the run exists and, at the end,
``RESULT <json>`` with the run's status and outputs.
"""

from __future__ import annotations

import json
import sys

import plait
from tests import loop_programs as lp

ITERATIONS = 30  # 29 tool calls, then finish
LM_CALLS = ITERATIONS + 1  # every agent turn, and the extraction
TOOL_CALLS = ITERATIONS - 1
LATENCY = 0.01  # seconds per scripted call: kills land between, and inside, iterations


def agent() -> plait.ReAct:
    return lp.ticking_agent(ITERATIONS, tool=lp.keyed_tick)


def make_lm(calls_file: str | None = None, latency: float = LATENCY) -> plait.ScriptedLM:
    return plait.ScriptedLM(lp.ticking_answer(ITERATIONS, tool="keyed_tick"), calls_file=calls_file, latency=latency)


def _announce(event) -> None:
    if isinstance(event, plait.events.RunStarted):
        print(f"RUN {event.run_id}", flush=True)


def main(argv: list[str]) -> int:
    mode, store, calls_file = argv[0], argv[1], argv[2]
    options = dict(store=store, lm=make_lm(calls_file), progress=False, on_event=_announce)
    if mode == "run":
        run = plait.compile(agent()).run([{"question": "count to 30"}], ids=["item-0"], **options)
    elif mode == "resume":
        run = plait.resume(argv[3], **options)
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected run or resume")
    outputs = {r.item_id: (dict(r.outputs) if r.outputs is not None else None) for r in run.items}
    print("RESULT " + json.dumps({"run_id": run.id, "status": run.status, "outputs": outputs}), flush=True)
    return 0 if run.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

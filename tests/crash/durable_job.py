"""The child process of the durable kill tests: run (or resume) a journaled DSPy program over N items.

Usage::

    python durable_job.py run    PROGRAM STORE CALLS_FILE ITEMS
    python durable_job.py resume PROGRAM STORE CALLS_FILE ITEMS RUN_ID

PROGRAM names a class of tests/crash/durable_programs.py. Both modes print ``RUN <run id>`` as soon
as the run exists and, at the end, ``RESULT <json>`` (run id, status, LM calls, every item's
outputs). The LM appends one line per call to CALLS_FILE before it answers, so a SIGKILL mid-run
leaves the calls in flight counted. ``resume`` passes no program: plait.resume rebuilds it from the
class path the run recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.crash.*

import plait  # noqa: E402
from tests.crash import durable_programs as programs  # noqa: E402

CONCURRENCY = 8
LATENCY = 0.01


def items(program_name: str, count: int) -> list[dict[str, str]]:
    field = {"Branches": "topic", "TypedCoT": "review"}.get(program_name, "question")
    return [{field: f"question {i}: what follows {i * 7 % 13}?"} for i in range(count)]


def outputs_of(run: plait.Run) -> dict[str, dict | None]:
    return {r.item_id: (json.loads(json.dumps(dict(r.outputs), default=repr)) if r.outputs is not None else None)
            for r in run.items}


def _announce(event) -> None:
    if isinstance(event, plait.events.RunStarted):
        print(f"RUN {event.run_id}", flush=True)


def main(argv: list[str]) -> int:
    mode, name, store, calls_file, count = argv[0], argv[1], argv[2], argv[3], int(argv[4])
    lm = programs.EchoLM(calls_file=calls_file, latency=LATENCY)
    options = dict(store=store, lm=lm, concurrency=CONCURRENCY, progress=False, on_event=_announce)
    if mode == "run":
        program = plait.durable(getattr(programs, name)())
        run = program.run(items(name, count), ids=[f"item-{i:03d}" for i in range(count)], **options)
    else:
        run = plait.resume(argv[5], **options)
    result = {"run_id": run.id, "status": run.status, "lm_calls": run.stats.lm_calls, "outputs": outputs_of(run)}
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0 if run.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

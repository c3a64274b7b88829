"""A driver process for the Ray tests: run the diamond over N items on a Ray cluster.

Usage::  python driver_job.py STORE CALLS_FILE ITEMS RAY_ADDRESS LATENCY

Prints ``RUN <run id>`` (flushed) once the run exists, and ``RESULT <json>`` at the end.
"""

from __future__ import annotations

import json
import sys

import plait
from plait.runtime import events as ev
from tests.crash.pipeline_job import items
from tests.ray.programs import Diamond, ids, scripted


def main(store: str, calls_file: str, count: str, address: str, latency: str) -> None:
    def announce(event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            print(f"RUN {event.run_id}", flush=True)

    n = int(count)
    run = plait.compile(Diamond()).run(
        items(n), ids=ids(n), store=store, lm=scripted(calls_file, float(latency)), concurrency=4,
        progress=False, on_event=announce, executor=plait.RayExecutor(address=address, workers=1))
    print("RESULT " + json.dumps({"run_id": run.id, "status": run.status}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])

"""The child of the commit-window crash test: run (or resume) the crash tests' diamond pipeline
one item at a time, with the store's writer held before it commits one chosen node's record.

Usage::

    python commit_job.py run    STORE CALLS_FILE ITEMS HOLD_ITEM HOLD_NODE
    python commit_job.py resume STORE CALLS_FILE ITEMS RUN_ID

In ``run`` mode, when the writer thread is handed the record of HOLD_NODE for HOLD_ITEM (its LM
has answered), it prints ``HELD`` and the records it holds (flushed) and waits forever instead of committing it: the
parent kills the process then, between that node's LM reply and its commit. One item at a time,
nothing else is in flight. ``resume`` prints ``RESULT <json>`` as pipeline_job.py does.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: tests/ importable

import plait  # noqa: E402
from plait.checkpoints.location import open_location  # noqa: E402
from tests.crash import pipeline_job as job  # noqa: E402


def hold_at(store, item_id: str, node_id: str) -> None:
    """Hold the writer thread forever when it is handed that record, before it writes it."""
    write = store.record_batch

    def holding(records):
        if any((r.row.item_id, r.row.node_id) == (item_id, node_id) for r in records):
            print("HELD " + " ".join(f"{r.row.item_id}:{r.row.node_id}" for r in records), flush=True)
            threading.Event().wait()
        write(records)

    store.record_batch = holding


def main(argv: list[str]) -> int:
    mode, location, calls_file, count = argv[0], argv[1], argv[2], int(argv[3])
    store = open_location(location, create=mode == "run")
    options = dict(store=store, lm=job.make_lm(calls_file, latency=0.0), concurrency=1, progress=False)
    if mode == "run":
        hold_at(store, argv[4], argv[5])
        plait.compile(job.Diamond()).run(job.items(count), ids=job.item_ids(count), **options)
        return 1  # never reached: the parent kills the process while the writer is held
    run = plait.resume(argv[4], **options)
    result = {"run_id": run.id, "status": run.status, "lm_calls": run.stats.lm_calls, "outputs": job.outputs_of(run)}
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0 if run.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

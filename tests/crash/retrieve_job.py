"""The child process of the retrieval crash test: two retrievals and two LM calls per item.

Usage::

    python retrieve_job.py run    STORE CALLS_FILE INDEX_DIR ITEMS
    python retrieve_job.py resume STORE CALLS_FILE INDEX_DIR ITEMS RUN_ID

Prints ``RUN <run id>`` as soon as the run exists and, at the end, ``RESULT <json>`` with the
run's status, its LM calls, its retrievals (the steps it executed: this pipeline has no other
step), the indexes this process built, and every item's outputs. Self-contained: imports only plait.
"""

from __future__ import annotations

import json
import sys

import plait

CONCURRENCY = 4
LATENCY = 0.01
ANIMALS = ["heron", "otter", "lynx", "badger", "marten", "ibis"]
PLACES = ["Harrowgate", "Lindmoor", "Quellen", "Brisca", "Tollvik", "Marrow", "Sennet", "Ostra", "Vellum", "Craike"]
CORPUS = [f"The {a} of {p} nests near the {p} river." for a in ANIMALS for p in PLACES]


class TwoHop(plait.Module):
    def __init__(self, index_dir: str):
        self.retrieve = plait.Retrieve(CORPUS, k=2, index_dir=index_dir)
        self.rewrite = plait.Predict("question, passages: list[str] -> query")
        self.answer = plait.Predict("question, passages: list[str] -> answer")

    def forward(self, question: str):
        first = self.retrieve(query=question).passages
        query = self.rewrite(question=question, passages=first).query
        return self.answer(question=question, passages=self.retrieve(query=query).passages)


def answer(task) -> dict[str, str]:
    """The rewrite asks about the animal and place of the best passage; the answer is the best passage."""
    best = task.inputs["passages"][0]
    if "query" in task.output_fields:
        words = best.split()
        return {"query": f"{words[1]} {words[3]} river, {task.inputs['question'].split(':')[0]}"}
    return {"answer": best}


def items(count: int) -> list[dict[str, str]]:
    # The number makes every question, and so every node's inputs, distinct: nothing is reused.
    return [{"question": f"question {i}: where does the {ANIMALS[i % len(ANIMALS)]} nest "
                         f"{PLACES[i * 7 % len(PLACES)]}"} for i in range(count)]


def item_ids(count: int) -> list[str]:
    return [f"item-{i:04d}" for i in range(count)]


def outputs_of(run: plait.Run) -> dict[str, dict | None]:
    return {r.item_id: (dict(r.outputs) if r.outputs is not None else None) for r in run.items}


def _announce(event) -> None:
    if isinstance(event, plait.events.RunStarted):
        print(f"RUN {event.run_id}", flush=True)


def main(argv: list[str]) -> int:
    mode, store, calls_file, index_dir, count = argv[0], argv[1], argv[2], argv[3], int(argv[4])
    lm = plait.ScriptedLM(answer, calls_file=calls_file, latency=LATENCY)
    options = dict(store=store, lm=lm, concurrency=CONCURRENCY, progress=False, on_event=_announce)
    program = TwoHop(index_dir)
    if mode == "run":
        run = plait.compile(program).run(items(count), ids=item_ids(count), **options)
    else:
        run = plait.resume(argv[5], pipeline=plait.compile(program), **options)
    result = {"status": run.status, "lm_calls": run.stats.lm_calls, "retrievals": run.stats.steps,
              "builds": program.retrieve.retriever().builds, "outputs": outputs_of(run)}
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0 if run.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

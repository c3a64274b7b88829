"""A job whose step, output type and pipeline are defined in the script itself (``__main__``), as
examples/multihop.py and docs/people.md do. Copied by the tests to a folder of its own and run as
``python script_job.py STORE CALLS ITEMS [--hang-after N]``; prints ``RESULT <json>``.

Loading it must not run the block below: that would start a second run (the calls file shows it).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pydantic

import plait


class Verdict(pydantic.BaseModel):
    word: str
    length: int


@plait.step
def measure(answer: str) -> Verdict:
    return Verdict(word=answer.upper(), length=len(answer))


class Scripted(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("question -> answer")

    def forward(self, question: str):
        return {"verdict": measure(answer=self.answer(question=question).answer)}


def counting_lm(calls: Path, hang_after: int | None) -> plait.ScriptedLM:
    def reply(task) -> dict:
        with calls.open("a") as f:
            f.write(task.inputs["question"] + "\n")
        if hang_after is not None and sum(1 for _ in calls.open()) > hang_after:
            time.sleep(600)  # the test SIGKILLs the process here
        return {"answer": f"a-{task.inputs['question']}"}

    return plait.ScriptedLM(reply)


if __name__ == "__main__":
    store, calls, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    hang = int(sys.argv[5]) if sys.argv[4:5] == ["--hang-after"] else None
    items = [{"question": f"q{i}"} for i in range(count)]
    run = plait.compile(Scripted()).run(items, store=store, lm=counting_lm(calls, hang), concurrency=1,
                                        progress=False)
    print("RESULT " + json.dumps({"run_id": run.id, "status": run.status}), flush=True)

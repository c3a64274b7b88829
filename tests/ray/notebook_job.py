"""A driver whose step and pipeline are defined in ``__main__``, as in a notebook's cells: its Ray
workers cannot import them, so they travel with the run. Prints ``RESULT <json>`` (the outputs).

Usage::  python notebook_job.py STORE RAY_ADDRESS
"""

from __future__ import annotations

import json
import sys

import plait


@plait.step
def shout(text: str) -> str:
    return text.upper() + "!"


class Loud(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("question -> answer")

    def forward(self, question: str):
        return {"loud": shout(text=self.answer(question=question).answer)}


def reply(task) -> dict:
    return {"answer": f"about {task.inputs['question']}"}


if __name__ == "__main__":
    store, address = sys.argv[1:]
    run = plait.compile(Loud()).run([{"question": q} for q in ("cats", "owls", "rain")], store=store,
                                    lm=plait.ScriptedLM(reply), progress=False,
                                    executor=plait.RayExecutor(address=address, workers=1))
    print("RESULT " + json.dumps({"status": run.status, "outputs": [dict(o) for o in run.outputs]}), flush=True)

"""What the Ray tests run: the crash tests' four-node diamond over items that succeed, fail to parse
and fail validation, with a deterministic scripted LM that workers can be sent (it pickles by
reference to this module, and appends to the same calls file from every process)."""

from __future__ import annotations

import os
import time

import plait
from tests.crash.pipeline_job import Diamond, answer, item_ids, items

__all__ = ["Diamond", "dataset", "ids", "scripted", "cli_lm", "LM_NODES", "TimedAnswer"]

LM_NODES = 4  # root, left, right, final


def garble_or_answer(task) -> dict | str:
    """The diamond's answers, except a reply that never parses for a question saying 'garbled'."""
    if "garbled" in str(task.inputs.get("question", "")):
        return "no fields in this reply"
    return answer(task)


def dataset(count: int) -> list[dict]:
    """``count`` questions, the fourth garbled (its item fails to parse), the sixth without a question
    (its item fails validation)."""
    data = items(count)
    if count > 3:
        data[3] = {"question": "garbled question"}
    if count > 5:
        data[5] = {"not_a_question": 1}
    return data


def ids(count: int) -> list[str]:
    return item_ids(count)


def scripted(calls_file: str | None = None, latency: float = 0.0) -> plait.ScriptedLM:
    return plait.ScriptedLM(garble_or_answer, calls_file=calls_file, latency=latency)


def cli_lm() -> plait.ScriptedLM:
    """For ``--lm scripted:tests.ray.programs:cli_lm``: the calls file and latency from the environment."""
    return scripted(os.environ.get("PLAIT_TEST_CALLS"), float(os.environ.get("PLAIT_TEST_LATENCY", "0")))


class TimedAnswer:
    """The diamond's answers, appending each call's start time to ``path`` (from any process)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, task) -> dict:
        with open(self.path, "a") as f:
            f.write(f"{time.time()}\n")
        return answer(task)

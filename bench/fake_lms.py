"""Fake LMs for ``bench_optimizers.py --smoke``: the whole bench, both frameworks, in seconds.

Both answer from the task's labels: right when the prompt carries demos, or by luck on a third of
the items (decided by a hash of the item), wrong otherwise, so the optimizers have something to
find. They exist to keep the bench script from rotting, not to measure anything.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import plait
from plait.lm.protocol import LMRequest, LMResponse

FALLBACK = "Answer with the label only."  # what a field without a label gets (instructions, notes)


def _wrong(value: Any) -> Any:
    return {"positive": "negative", "negative": "positive"}.get(value, "unknown")


def _lucky(item: dict) -> bool:
    return zlib.crc32(json.dumps(item, sort_keys=True).encode()) % 3 == 0


def answer_fields(item: dict | None, fields: list[str], knows: bool) -> dict[str, Any]:
    if item is None:
        return {f: FALLBACK for f in fields}
    right = knows or _lucky(item)
    return {f: (item[f] if right else _wrong(item[f])) if f in item else FALLBACK for f in fields}


def scripted(data: list[dict]) -> plait.ScriptedLM:
    """plait's side: a ScriptedLM that finds the item by the node's input values."""

    def reply(task: Any) -> dict[str, Any]:
        matches = [d for d in data if all(d.get(k, v) == v for k, v in task.inputs.items())
                   and any(k in d for k in task.inputs)]
        return answer_fields(matches[0] if matches else None, list(task.output_fields), bool(task.demos))

    return plait.ScriptedLM(reply, name="fake-oracle")


class FakeLocal:
    """DSPy's side, behind :class:`plait.lm.dspy_local.DSPyLocalLM` in place of the embedded model: finds
    the item whose input values the last user message quotes, and answers the schema's fields."""

    name = "fake-oracle"

    def __init__(self, data: list[dict]) -> None:
        self.data = data

    def call(self, request: LMRequest) -> LMResponse:
        schema = request.response_schema or {}
        fields = list(schema.get("properties", {})) or ["answer"]
        last = [m["content"] for m in request.messages if m["role"] == "user"][-1]
        quoted = [(sum(isinstance(v, str) and v in last for v in d.values()), d) for d in self.data]
        best = max(quoted, key=lambda pair: pair[0], default=(0, None))
        knows = sum(m["role"] == "user" for m in request.messages) > 1  # demos come as earlier turns
        return LMResponse(json.dumps(answer_fields(best[1] if best[0] else None, fields, knows)))

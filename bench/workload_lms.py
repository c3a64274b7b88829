"""The peers workload's fake LMs for the two frameworks that format prompts with an adapter:
plait (a custom LM through the typed protocol, ``plait.LMBase``, docs/custom-lm.md) and DSPy (a
reply function for core_dspy.dspy_program). Both answer with peer_workload.answer, so their
final answers, and the checksum over them, equal every other peer's.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import peer_workload as work

import plait


class WorkloadLM(plait.LMBase):
    """Answers each node from its inputs, in DSPy's ChatAdapter format, after ``latency`` s."""

    name = "bench-workload"
    adapter = "chat"
    max_concurrency = 4096  # never the bound: the run's concurrency is what is measured

    def __init__(self, latency: float = 0.0) -> None:
        self.latency, self.calls = latency, 0

    def identity(self) -> dict[str, Any]:
        return {"backend": "bench-workload", "version": 1}

    async def acall(self, request: plait.LMRequest) -> plait.LMResponse:
        self.calls += 1  # one event loop: no lock needed
        if self.latency:
            await asyncio.sleep(self.latency)
        task = request.task
        field = task.output_fields[0]
        value = work.answer(field, [str(v) for v in task.inputs.values()])
        return plait.LMResponse(text=work.reply_text(field, value))


class WorkloadReplies:
    """A DSPy Predict's fake LM: reads the inputs from the prompt's ``[[ ## field ## ]]`` sections.
    ``calls`` counts the calls of every Predict (DSPy runs them on threads, hence the lock)."""

    calls = 0
    _lock = threading.Lock()

    def __init__(self, signature, latency: float) -> None:
        self.inputs, self.output = list(signature.input_fields), next(iter(signature.output_fields))
        self.latency = latency

    def __call__(self, messages: list[dict]) -> str:
        with self._lock:
            WorkloadReplies.calls += 1
        if self.latency:
            time.sleep(self.latency)  # DSPy runs items on threads: a blocking call is what it expects
        found = work.sections(messages[-1]["content"])
        return work.reply_text(self.output, work.answer(self.output, [found[name] for name in self.inputs]))

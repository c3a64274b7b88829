"""A scripted LM for tests: answers from a Python function, through the same adapter text path.

The function receives the request's :class:`LMTask` (node, instructions, inputs, demos) and
returns the output fields as a dict (formatted into reply text by the request's adapter, and so
parsed back exactly as a real reply would be) or a raw string (sent as is: use it to test
malformed replies).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable

from plait.lm.adapters import adapter_named
from plait.lm.protocol import LMRequest, LMResponse, LMTask, Usage

Answer = Callable[[LMTask], "dict[str, Any] | str"]


class ScriptedLM:
    """Example::

        lm = plait.ScriptedLM(lambda task: {"answer": task.inputs["question"].upper()})
        plait.configure(lm=lm)
        ...
        assert lm.calls == 3

    ``calls_file``: append one line per call to this file (crash tests count calls across
    processes). ``latency``: seconds to sleep per call. ``version`` enters the identity, so
    changing the script's behaviour can invalidate cached outputs.
    """

    def __init__(self, answer: Answer, *, name: str = "scripted", version: str = "1", latency: float = 0.0,
                 max_concurrency: int = 1024, calls_file: str | None = None, adapter: str = "chat",
                 record: bool = False) -> None:
        self.answer = answer
        self.name = name
        self.version = version
        self.latency = latency
        self.max_concurrency = max_concurrency
        self.adapter = adapter
        self.calls = 0
        self.requests: list[LMRequest] = []  # kept only with record=True (tests inspect prompts)
        self._record = record
        self.calls_file = calls_file
        self._calls_fd = os.open(calls_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if calls_file else None

    # Sent to another process (a Ray worker), it appends to the same calls file through its own descriptor.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_calls_fd"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._calls_fd = os.open(self.calls_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if self.calls_file else None

    def identity(self) -> dict[str, Any]:
        return {"backend": "scripted", "name": self.name, "version": self.version}

    async def acall(self, request: LMRequest) -> LMResponse:
        self.calls += 1
        if self._record:
            self.requests.append(request)
        if self._calls_fd is not None:
            node = request.task.node_id if request.task else "?"
            os.write(self._calls_fd, f"{node}\n".encode())
        if self.latency:
            await asyncio.sleep(self.latency)
        reply = self.answer(request.task)
        if isinstance(reply, dict):
            reply = adapter_named(request.adapter).format_reply(request.task.signature, reply)
        return LMResponse(reply, Usage(prompt_tokens=sum(len(m["content"]) for m in request.messages) // 4,
                                       completion_tokens=len(reply) // 4))

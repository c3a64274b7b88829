"""Journaled re-asks on the embedded model (SmolLM2-135M): a node whose real replies never fit its
type (a description of at least 200 characters, in at most 12 tokens) is killed while its last
re-ask is in flight; the resume re-reads the replies the model gave before the kill and asks the
model once, for the call in flight.

The kill is the run's task cancelled while that call waits (what Ctrl-C does);
tests/crash/test_optimize_resume.py kills real processes."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel, field_validator

import plait
from plait.checkpoints.location import open_location
from plait.lm.protocol import LMRequest, LMResponse
from tests.local_model import require_local_model

local = require_local_model()
pytestmark = [pytest.mark.local_model]
OPTIONS = {"parse_retries": 2, "progress": False}


class Description(BaseModel):
    text: str

    @field_validator("text")
    @classmethod
    def long_enough(cls, text: str) -> str:
        if len(text) < 200:
            raise ValueError("a description has at least 200 characters")
        return text


class Describe(plait.Signature):
    """Describe the word."""

    question: str = plait.InputField()
    answer: Description = plait.OutputField()


class Cut(plait.Module):
    def __init__(self):
        self.ask = plait.Predict(Describe, max_tokens=12)  # 200 characters never fit: every reply is re-asked

    def forward(self, question: str):
        return self.ask(question=question)


class Counted:
    """The embedded model, counted; its call number ``hang_at`` never returns (the kill lands then)."""

    def __init__(self, inner: plait.LocalLM, hang_at: int = 0):
        self.inner, self.name, self.hang_at, self.calls = inner, inner.name, hang_at, 0
        self.max_concurrency, self.adapter = inner.max_concurrency, inner.adapter
        self.in_flight = asyncio.Event()

    def identity(self) -> dict:
        return self.inner.identity()

    async def acall(self, request: LMRequest) -> LMResponse:
        self.calls += 1
        if self.calls == self.hang_at:
            self.in_flight.set()
            await asyncio.Event().wait()
        return await self.inner.acall(request)


def killed_at_last_re_ask(store: str, model: plait.LocalLM) -> str:
    """The id of a run killed while its node's second re-ask (its third call) is in flight."""
    lm = Counted(model, hang_at=3)

    async def main() -> None:
        task = asyncio.create_task(plait.compile(Cut()).arun([{"question": "hot"}], store=store, lm=lm, **OPTIONS))
        await lm.in_flight.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (run,) = journal_of(store, lambda opened, run: run)
    return run.run_id


def journal_of(store: str, read) -> list:
    """``read(store, run)`` for each run in the store."""
    opened = open_location(store)
    try:
        return [read(opened, run) for run in opened.list_runs()]
    finally:
        opened.close()


def node_value(opened, run) -> dict:
    row = opened.journal(run.run_id)[("0", "cut.ask", 0)]
    return json.loads(opened.read_value(row.value_hash))


def test_a_kill_during_a_re_ask_of_the_real_model_repeats_only_that_call(tmp_path):
    model, store = plait.LocalLM(), str(tmp_path / "runs.db")
    run_id = killed_at_last_re_ask(store, model)
    (held,) = journal_of(store, node_value)  # the 'retrying' row: the two replies re-asked for
    journaled = [reply["text"] for reply in held["replies"]]
    assert len(journaled) == 2 and all(reply["lm"] == model.name for reply in held["replies"])
    again = Counted(model)
    resumed = plait.resume(run_id, store=store, lm=again, **OPTIONS)
    assert again.calls == 1 and resumed.status == "failed"  # only the re-ask in flight was asked again
    (failure,) = journal_of(store, node_value)
    assert failure["raw"][:2] == journaled and len(failure["raw"]) == 3  # the model's own earlier replies
    (item,) = resumed.failed
    assert "cut.ask" in item.error and "answer" in item.error and "200 characters" in item.error

"""``plait.durable_lm``: DSPy's own optimizers (and any DSPy code), made resumable by their LM.

A DSPy optimization (``dspy.BootstrapFewShot``, ``dspy.MIPROv2``, ...) is a long Python loop
over LM calls with no checkpoint: killed after hours, it starts over. Run it under a
:class:`DurableLM` and every call it makes is recorded in a plait run, keyed by the call's content
(model, settings, messages) and its occurrence (the n-th identical call: sampled rounds differ by
their ``rollout_id`` anyway). Start the same optimization again with the same ``run_id`` and every
recorded call returns its recorded answer with no LM call: the loop fast-forwards to where it was
killed, and only the calls in flight at the kill are made again. The run is an ordinary plait run
(``plait runs``, ``plait show``); its one node, ``lm``, counts the calls.

This replays answers by content, so it needs no determinism from the optimizer beyond what it
sends to the LM; an optimizer that samples its own random numbers must be seeded (DSPy's are).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import dspy
from pydantic_core import to_jsonable_python

from plait.checkpoints.codec import json_utf8
from plait.checkpoints.protocol import RunRecord, Source, Status
from plait.checkpoints.stores import open_store
from plait.errors import PlaitError, RunNotFound
from plait.hashing import sha256_hex
from plait.ir.nodes import Node, Op
from plait.ir.plan import Plan
from plait.ir.serialize import plan_to_json
from plait.runtime.journal import Keys, StepJournal

CALL_NODE = Node("lm", Op.STEP)  # the node every recorded call is journaled under


class CallBook:
    """One optimization's recorded LM calls: (content key, occurrence) -> answer. Shared by an LM's copies."""

    def __init__(self, store: Any, run_id: str, model: str) -> None:
        self.store, self.run_id = open_store(store), run_id
        self._open_run(model)
        self.steps = StepJournal(self.store, run_id, rows=self.store.journal(run_id))
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()
        self.replayed = self.made = 0

    def _open_run(self, model: str) -> None:
        try:
            self.store.get_run(self.run_id)
        except RunNotFound:
            plan = Plan("durable_lm", [Node("inputs", Op.INPUT), Node("outputs", Op.OUTPUT)], {"durable_lm": model})
            plan_hash = self.store.save_plan(json.dumps(plan_to_json(plan), sort_keys=True))
            self.store.create_run(RunRecord(self.run_id, plan_hash, "running", time.time(), time.time(),
                                            config={"durable_lm": model}), [])
        else:
            self.store.set_run(self.run_id, status="running")

    def keys(self, request: dict[str, Any]) -> tuple[str, int, Keys]:
        content = sha256_hex(json.dumps(to_jsonable_python(request, fallback=_schema_or_repr), sort_keys=True))
        with self.lock:
            occurrence = self.seen.get(content, 0)
            self.seen[content] = occurrence + 1
        key = sha256_hex(f"{content}|{occurrence}")
        return content, occurrence, Keys(key, key)

    def recorded(self, content: str, occurrence: int, keys: Keys) -> list[Any] | None:
        row = self.steps.rows.get((content, CALL_NODE.id, occurrence))
        value_hash = row.value_hash if row is not None and row.status == Status.OK else self.steps.cached(CALL_NODE, keys.content)
        if value_hash is None:
            return None
        with self.lock:
            self.replayed += 1
        return json.loads(self.steps.read(value_hash))

    def record(self, content: str, occurrence: int, keys: Keys, outputs: list[Any]) -> None:
        data = json_utf8(to_jsonable_python(outputs, fallback=repr))
        with self.lock:
            self.made += 1
        self.steps.record_ok(content, CALL_NODE, occurrence, keys, data, source=Source.LM)

    def close(self, status: str) -> None:
        self.store.set_run(self.run_id, status=status)
        self.store.close()


class DurableLM(dspy.BaseLM):
    """A DSPy LM whose every call is recorded in a plait run and replayed when the run starts again.

    Example::

        with plait.durable_lm(dspy.LM("openai/gpt-4o-mini"), store="opt.db", run_id="bootstrap-1") as lm:
            with dspy.context(lm=lm):
                optimized = dspy.BootstrapFewShot(metric=metric).compile(program, trainset=trainset)
    """

    def __init__(self, lm: dspy.BaseLM, book: CallBook) -> None:
        super().__init__(model=lm.model, model_type=lm.model_type, cache=False, num_retries=0)
        self.kwargs = dict(lm.kwargs)
        self.inner, self.book = lm, book

    def __call__(self, prompt: str | None = None, *, messages: list[dict] | None = None, **kwargs: Any) -> list[Any]:
        content, occurrence, keys = self._keys(prompt, messages, kwargs)
        if (outputs := self.book.recorded(content, occurrence, keys)) is not None:
            return outputs
        outputs = self.inner(prompt, messages=messages, **{**self.kwargs, **kwargs})
        self.book.record(content, occurrence, keys, outputs)
        return outputs

    async def acall(self, prompt: str | None = None, *, messages: list[dict] | None = None, **kwargs: Any) -> list[Any]:
        content, occurrence, keys = self._keys(prompt, messages, kwargs)
        if (outputs := self.book.recorded(content, occurrence, keys)) is not None:
            return outputs
        outputs = await self.inner.acall(prompt, messages=messages, **{**self.kwargs, **kwargs})
        self.book.record(content, occurrence, keys, outputs)
        return outputs

    def _keys(self, prompt: str | None, messages: list[dict] | None, kwargs: dict[str, Any]) -> tuple[str, int, Keys]:
        settings = {k: v for k, v in {**self.kwargs, **kwargs}.items() if k not in ("api_key", "api_base", "base_url")}
        return self.book.keys({"model": self.model, "settings": settings, "prompt": prompt, "messages": messages})

    # What DSPy's adapters ask an LM before formatting (JSONAdapter sends a schema only to an LM that
    # takes one): the wrapped LM's answers, so that the prompts are the ones it would get unwrapped.
    supported_params = property(lambda self: self.inner.supported_params)
    supports_response_schema = property(lambda self: self.inner.supports_response_schema)
    supports_function_calling = property(lambda self: self.inner.supports_function_calling)
    supports_reasoning = property(lambda self: self.inner.supports_reasoning)
    supports_decision_requests = property(lambda self: self.inner.supports_decision_requests)

    def __enter__(self) -> DurableLM:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.book.close("done" if kind is None else "interrupted")

    @property
    def calls_made(self) -> int:
        """Calls sent to the wrapped LM by this process (the rest replayed)."""
        return self.book.made

    @property
    def calls_replayed(self) -> int:
        return self.book.replayed


def durable_lm(lm: Any, *, run_id: str, store: Any = None) -> DurableLM:
    """``lm`` (a ``dspy.LM`` or any ``dspy.BaseLM``) with every call recorded in the run ``run_id`` of
    ``store``, created on first use; used again with the same ``run_id``, recorded calls replay.
    Use it as a context manager: the run is marked done (or interrupted) at the end."""
    if not isinstance(lm, dspy.BaseLM):
        raise PlaitError("plait.durable_lm wraps a DSPy LM", field="lm", expected="a dspy.LM or dspy.BaseLM",
                         found=type(lm).__name__, fix="pass dspy.LM('provider/model') or plait's DSPyLocalLM()")
    return DurableLM(lm, CallBook(store, run_id, lm.model))


def _schema_or_repr(value: Any) -> Any:
    """A response_format given as a pydantic class enters the key as its JSON schema."""
    schema = getattr(value, "model_json_schema", None)
    return schema() if callable(schema) else repr(value)

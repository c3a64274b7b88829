"""Asking a person from inside a running node, exactly once per question.

While a STEP or HUMAN node runs, an :class:`AskScope` (a context variable, so concurrent nodes never
mix) numbers the questions the node asks: 0, 1, 2, ... Each is keyed by (run, item, node,
iteration, ask index). An ask with a recorded answer returns it; the first one without an answer
records the question and raises :class:`HumanWait`, which the executor turns into the item's
durable 'waiting' state. After an answer, resuming runs the node again from the start: the earlier
asks return their recorded answers and the next unanswered one suspends, so no question is asked
twice. (Code before an ask re-runs on each resume: keep side effects after the approval.)
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

from pydantic_core import to_jsonable_python

from plait.checkpoints.asks import Question
from plait.checkpoints.codec import codec_for
from plait.errors import NodeError, PlaitError
from plait.ir.nodes import Field
from plait.ir.source import user_source
from plait.ir.types import type_to_json

_scope: ContextVar[AskScope | None] = ContextVar("plait_ask_scope", default=None)


class HumanWait(BaseException):
    """The node reached an unanswered question. A BaseException, like asyncio's CancelledError,
    so that a step's own ``except Exception`` cannot swallow the suspension."""

    def __init__(self, question: Question) -> None:
        super().__init__(f"waiting for an answer at node '{question.node_id}': {question.question}")
        self.question = question


class AskBook:
    """A run's questions: loaded once when the run (or resume) starts, written as they are asked."""

    def __init__(self, store: Any, run_id: str, owner: str | None) -> None:
        self.store, self.run_id, self.owner = store, run_id, owner
        self.recorded = {q.key: q for q in store.asks(run_id)}

    @contextmanager
    def scope(self, item_id: str, node_id: str, inputs: dict[str, Any], iteration: int = 0) -> Iterator[AskScope]:
        scope = AskScope(self, item_id, node_id, iteration, inputs)
        token = _scope.set(scope)
        try:
            yield scope
        finally:
            _scope.reset(token)


class AskScope:
    """The questions of one execution of one node; ``asked``: how many it asked so far."""

    def __init__(self, book: AskBook, item_id: str, node_id: str, iteration: int, inputs: dict[str, Any]) -> None:
        self.book, self.item_id, self.node_id, self.iteration = book, item_id, node_id, iteration
        self.inputs = inputs
        self.asked = 0

    def ask(self, question: str, fields: tuple[Field, ...], *, context: dict[str, Any] | None = None,
            timeout: float | None = None, default: dict[str, Any] | None = None, source: Any = None) -> dict[str, Any]:
        """The answer (typed by ``fields``) to this node's next question; raises HumanWait if none yet."""
        index, self.asked = self.asked, self.asked + 1
        key = (self.book.run_id, self.item_id, self.node_id, self.iteration, index)
        recorded = self.book.recorded.get(key)
        if recorded is None:
            recorded = self._record(key, question, fields, context, timeout, default)
        elif recorded.question != question:
            raise _diverged(recorded, question, source)
        if recorded.answer is None and recorded.default is not None and recorded.overdue():
            recorded = self.book.store.answer_ask(key, recorded.default, "default") or recorded
            self.book.recorded[key] = recorded
        if recorded.answer is None:
            raise HumanWait(recorded)
        return codec_for(fields).decode(json.dumps(recorded.answer).encode(), f"the answer to '{question}'")

    def _record(self, key: tuple, question: str, fields: tuple[Field, ...], context: dict[str, Any] | None,
                timeout: float | None, default: dict[str, Any] | None) -> Question:
        now = time.time()
        q = Question(*key, question=question, context=to_jsonable_python(self.inputs if context is None else context,
                                                                         fallback=repr),
                     fields=[[f.name, type_to_json(f.type)] for f in fields],
                     deadline=None if timeout is None else now + timeout, default=default, asked_at=now)
        self.book.store.record_ask(q, owner=self.book.owner)
        self.book.recorded[key] = q
        return q


def current_scope(what: str) -> AskScope:
    scope = _scope.get()
    if scope is None:
        raise PlaitError(
            f"{what} is called outside a running pipeline node", source=user_source(),
            expected=f"{what} inside a @plait.step function that a compiled pipeline runs",
            found="no node of a run is executing in this context",
            fix="call it from a @plait.step used in your Module's forward(), and run the compiled "
                "pipeline with a store: compiled.run(items, store='runs.db')")
    return scope


def _diverged(recorded: Question, question: str, source: Any) -> NodeError:
    return NodeError(
        f"ask #{recorded.ask} of node '{recorded.node_id}' asks a different question than the one recorded",
        node=recorded.node_id, source=source, expected=repr(recorded.question), found=repr(question),
        fix="the step changed between asking and resuming; ask the same questions in the same order, "
            f"or fork the run from this node: plait rerun {recorded.run_id} --from {recorded.node_id}")

"""``plait.pending`` and ``plait.answer``: what waits for a person, and answering it from any
process, at any time. An answer is validated against the question's declared types before it
is stored; a refused answer raises AnswerError and the item keeps waiting. ``plait.resume`` then
continues the item: recorded nodes replay, the question returns the answer."""

from __future__ import annotations

import json
from typing import Any, Callable

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from plait.checkpoints.asks import Question
from plait.checkpoints.codec import codec_for
from plait.checkpoints.stores import using_store
from plait.errors import AnswerError
from plait.ir.source import SourceLoc


def pending(run_id: str, *, store: Any = None) -> list[Question]:
    """The run's unanswered questions: run, item, node, ask index, question, context, expected
    types (``q.expected``), deadline and default.

    Example::

        for q in plait.pending(run.id, store="runs.db"):
            print(q.item_id, q.node_id, q.ask, q.question, q.context, q.expected)
    """
    with using_store(store, create=False) as opened:
        opened.get_run(run_id)  # RunNotFound for a typo
        return opened.asks(run_id, unanswered=True)


def answer(run_id: str, item_id: str, node_id: str, values: Any, *, store: Any = None, ask: int = 0,
           iteration: int = 0) -> Question:
    """Answer question ``ask`` of ``node_id`` for item ``item_id``; then ``plait.resume(run_id)``.

    ``values``: a dict of the answer's fields, or, for a question with one field (any
    ``plait.ask``), the value itself. Works while no process runs the run, and while one does
    (the next resume uses it). Raises AnswerError, storing nothing, when no such question waits or
    the answer does not fit its types.

    Example::

        plait.answer(run.id, "0", "pipeline.review", {"approved": True, "comment": "ok"}, store="runs.db")
        plait.answer(run.id, "3", "pipeline.publish", True, ask=1, store="runs.db")
        plait.resume(run.id, store="runs.db")
    """
    key = (run_id, str(item_id), node_id, iteration, ask)
    with using_store(store, create=False) as opened:
        opened.get_run(run_id)
        question = _waiting(opened, key)
        checked = _validated(question, values, lambda: _source(opened, run_id, node_id))
        stored = opened.answer_ask(key, to_jsonable_python(checked), "human")
    if stored.answered_by != "human" or stored.answer != to_jsonable_python(checked):
        raise _already(stored)
    return stored


def _waiting(store: Any, key: tuple) -> Question:
    found = store.question(key)
    if found is None:
        waiting = [f"item {q.item_id} node {q.node_id} ask {q.ask}" for q in store.asks(key[0], unanswered=True)][:10]
        raise AnswerError(
            f"no question of run {key[0]} is at item {key[1]}, node '{key[2]}', ask {key[4]}", node=key[2],
            expected="one of: " + ("; ".join(waiting) if waiting else "(no question waits in this run)"),
            found=f"item {key[1]} node {key[2]} ask {key[4]} iteration {key[3]}",
            fix=f"list what waits with plait.pending('{key[0]}') or `plait answer {key[0]} --list`")
    if found.answer is not None:
        raise _already(found)
    return found


def _already(q: Question) -> AnswerError:
    return AnswerError(
        f"question {q.ask} of node '{q.node_id}' (item {q.item_id}) is already answered", node=q.node_id,
        expected="an unanswered question", found=f"answered by {q.answered_by}: {json.dumps(q.answer)}",
        fix="an answer is final, so that the item never acts on two different answers; to change it, "
            f"fork the run from this node: plait rerun {q.run_id} --from {q.node_id}")


def _validated(q: Question, values: Any, source: Callable[[], SourceLoc | None]) -> dict[str, Any]:
    names = [name for name, _ in q.fields]
    if not (isinstance(values, dict) and set(values) <= set(names) and values) and len(names) == 1:
        values = {names[0]: values}  # a one-field question takes the bare value
    if not isinstance(values, dict):
        raise _refused(q, names[0], "a dict of the answer's fields", repr(values), source)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise _refused(q, unknown[0], f"one of the fields {', '.join(names)}", f"unknown field '{unknown[0]}'", source)
    try:
        return codec_for(q.answer_fields()).validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first.get("loc") else names[0]
        name = name[2:] if name not in names and name.startswith("f_") else name
        found = repr(values[name]) if name in values else "nothing (the field is missing)"
        raise _refused(q, name, q.expected.get(name, "?"), f"{found}: {first['msg']}", source) from None


def _refused(q: Question, name: str, expected: str, found: str, source: Callable[[], SourceLoc | None]) -> AnswerError:
    return AnswerError(
        f"the answer to question {q.ask} of node '{q.node_id}' (item {q.item_id}) does not fit field '{name}'",
        node=q.node_id, field=name, field_kind="answer field", source=source(), expected=expected, found=found,
        fix=f"answer again with {', '.join(f'{k}: {t}' for k, t in q.expected.items())}; the item keeps waiting")


def _source(store: Any, run_id: str, node_id: str) -> SourceLoc | None:
    """Where the question's node is in the user's code, from the run's plan."""
    plan = json.loads(store.load_plan(store.get_run(run_id).plan_hash))
    node = next((n for n in plan.get("nodes", []) if n.get("id") == node_id), None)
    return SourceLoc(*node["source"]) if node and node.get("source") else None

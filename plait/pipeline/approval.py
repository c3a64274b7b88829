"""``plait.ask`` and ``plait.approve``: a question to a person from inside a step (or a tool)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from plait.checkpoints.asking import current_scope
from plait.checkpoints.codec import codec_for
from plait.errors import PlaitError
from plait.ir.nodes import Field
from plait.ir.source import user_source
from plait.ir.types import type_name

ANSWER = "answer"
_MISSING: Any = object()


def ask(question: str, *, type: Any = str, context: dict[str, Any] | None = None, timeout: float | None = None,
        default: Any = _MISSING) -> Any:
    """Ask a person ``question`` and return their answer, of type ``type``.

    Inside a ``@plait.step`` of a running pipeline. The first time, the item waits (durably: the
    process may exit) until someone answers with ``plait.answer(run_id, item_id, node_id, value,
    ask=N)`` or ``plait answer``; ``plait.resume`` then runs the step again and this call returns
    the answer. Each call of a step is numbered (``ask=0, 1, ...``) and asked exactly once.
    ``context`` is shown with the question (default: the step's inputs). With ``timeout`` seconds
    and ``default``, an answer still missing at the deadline is ``default``.

    Example::

        @plait.step
        def publish(draft: str) -> str:
            if not plait.approve("Publish this draft?"):
                return "rejected"
            title = plait.ask("Title?", type=str)
            return f"{title}: {draft}"
    """
    fields = (Field(ANSWER, type),)
    if (timeout is None) != (default is _MISSING):
        raise PlaitError("plait.ask needs both timeout= and default=, or neither", field=ANSWER, source=user_source(),
                         expected="timeout=SECONDS, default=ANSWER",
                         found=f"timeout={timeout!r}, default={'(none)' if default is _MISSING else repr(default)}",
                         fix="give the answer to use when nobody answers in time, or drop the timeout")
    scope = current_scope("plait.ask")
    recorded_default = None if default is _MISSING else _checked_default(scope.node_id, type, default)
    answer = scope.ask(question, fields, context=context, timeout=timeout, default=recorded_default, source=user_source())
    return answer[ANSWER]


def approve(question: str, *, context: dict[str, Any] | None = None, timeout: float | None = None,
            default: Any = _MISSING) -> bool:
    """``plait.ask(question, type=bool, ...)``: an approval gate; True means approved.

    Example::

        if plait.approve("Send this email?", context={"to": to, "body": body}, timeout=3600, default=False):
            send(to, body)
    """
    return ask(question, type=bool, context=context, timeout=timeout, default=default)


def _checked_default(node_id: str, type_: Any, default: Any) -> dict[str, Any]:
    try:
        return to_jsonable_python(codec_for((Field(ANSWER, type_),)).validate({ANSWER: default}))
    except ValidationError:
        raise PlaitError(f"the default answer of a question in node '{node_id}' is not of type {type_name(type_)}",
                         node=node_id, field=ANSWER, source=user_source(), expected=type_name(type_), found=repr(default),
                         fix="give default= a value of the question's type") from None

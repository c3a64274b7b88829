"""Stopping a blocking generation when its call is cancelled (Ctrl-C, a timeout, a lost lease).

A thread cannot be killed, and asyncio only stops *waiting* for one: after a Ctrl-C the process
used to sit silently until the embedded model finished the reply in flight (~15 s). llama.cpp has
no stop call either, but llama-cpp-python calls a ``logits_processor`` before sampling each token;
one that raises when the call was cancelled ends the generation at its next token. (The prompt's
evaluation, before the first token, cannot be stopped this way; it takes a second or two.)

Usage: the async side runs the blocking call with :func:`in_thread`; the blocking side passes
:class:`StopOnCancel` as its logits processor and calls :func:`raise_if_stopped` before it starts.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from typing import Any, Callable


class Stopped(Exception):
    """Raised inside the worker thread to end a generation whose call was cancelled."""


class CallControl(threading.Event):
    """One blocking call's stop flag (set: stop), and whether it has started generating."""

    generating = False


_CONTROL: contextvars.ContextVar[CallControl | None] = contextvars.ContextVar("plait_call_control", default=None)


async def in_thread(func: Callable[..., Any], *args: Any, what: str = "the embedded model's call") -> Any:
    """``await asyncio.to_thread(func, *args)``, except that a cancellation also stops ``func``
    (at its next check) and, if it was generating, says that the process waits for it."""
    control = CallControl()
    context = contextvars.copy_context()
    context.run(_CONTROL.set, control)
    try:
        return await asyncio.to_thread(context.run, func, *args)
    except asyncio.CancelledError:
        control.set()
        if control.generating:
            sys.stderr.write(f"plait: interrupted: stopping {what} in flight; it ends at its next token\n")
        raise


def raise_if_stopped() -> None:
    """Before a generation starts (after waiting for the model): not at all if already cancelled."""
    control = _CONTROL.get()
    if control is not None:
        if control.is_set():
            raise Stopped("the call was cancelled before it started")
        control.generating = True


class StopOnCancel(list):
    """A llama-cpp-python logits processor list (a list that is called on each token's scores):
    it changes no score, and ends the generation once the call was cancelled."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        control = _CONTROL.get()
        if control is not None and control.is_set():
            raise Stopped("the call was cancelled while generating")
        return scores

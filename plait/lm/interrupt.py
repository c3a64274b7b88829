"""What a cancelled call (Ctrl-C, a timeout, a lost lease) does to a blocking generation in a
worker thread: asyncio stops *waiting* for a thread, but cannot stop it, so after a Ctrl-C the
process waits for the embedded model's reply in flight (up to ~15 s) before it exits. That wait is
said, not silent; and a call cancelled while it waited for the model never starts.

llama.cpp cannot cheaply stop a reply midway from here: ``create_chat_completion`` takes no
stopping criteria, an exception raised in a ``logits_processor`` is swallowed by its ctypes
callback (the generation went on: measured on the real model), and llama.cpp's abort callback is
called from its compute threads on every graph node, a Python call per node on the hot path.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from typing import Any, Callable


class Stopped(Exception):
    """Raised in the worker thread by a call cancelled before it started generating."""


class CallControl(threading.Event):
    """One blocking call's stop flag (set: cancelled), and whether it has started generating."""

    generating = False


_CONTROL: contextvars.ContextVar[CallControl | None] = contextvars.ContextVar("plait_call_control", default=None)


async def in_thread(func: Callable[..., Any], *args: Any, what: str = "the embedded model's call") -> Any:
    """``await asyncio.to_thread(func, *args)``; when cancelled, says that the process waits for
    ``func`` if it is generating, and keeps it from starting if it is not yet."""
    control = CallControl()
    context = contextvars.copy_context()
    context.run(_CONTROL.set, control)
    try:
        return await asyncio.to_thread(context.run, func, *args)
    except asyncio.CancelledError:
        control.set()
        if control.generating:
            sys.stderr.write(f"plait: interrupted: waiting for {what} in flight to finish its reply "
                             "(llama.cpp cannot stop it midway); every finished node is recorded\n")
        raise


def raise_if_stopped() -> None:
    """Called by the blocking side once it holds the model, before it generates."""
    control = _CONTROL.get()
    if control is not None:
        if control.is_set():
            raise Stopped("the call was cancelled before it started")
        control.generating = True

"""The synchronous facade over the async executor.

In a plain script there is no running event loop and ``asyncio.run`` is used. Inside Jupyter
(or any running loop) the coroutine runs to completion on a fresh loop in a worker thread, so
callers never need ``nest_asyncio`` and the notebook's own loop is left untouched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    if not _loop_running():
        return asyncio.run(coro)  # outside the except block: a run's errors carry no unrelated context
    ctx = contextvars.copy_context()  # keep plait.context(...) overrides visible in the thread
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="plait") as pool:
        return pool.submit(ctx.run, asyncio.run, coro).result()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

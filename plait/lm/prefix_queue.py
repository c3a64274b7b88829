"""Which waiting call the embedded model runs next: the one whose prompt shares the longest prefix
with the prompt it ran last, so that llama.cpp reuses that prefix from its KV cache.

llama-cpp-python keeps the KV cache of the last prompt and, on the next call, evaluates only the
tokens after the longest common prefix (``Llama.generate``'s prefix match). The calls of one node
share its instructions and demos, but an executor's items reach the model in the order they become
ready, interleaving nodes, and every switch of node evaluates the whole prompt again. The queue
regroups them: it lets one call run at a time and, when it ends, grants the model to the waiting
call with the longest shared prefix (the oldest among equals), so one node's calls run together.
A call passed over ``max_skips`` times goes next, so none waits for ever.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator


@dataclass(eq=False)
class _Waiter:
    prompt: str
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    skipped: int = 0
    granted: bool = False


class PrefixQueue:
    """One holder at a time; the next turn goes to the waiter sharing the longest prompt prefix.

    Example::

        queue = PrefixQueue()
        async with queue.turn(prompt_text):
            reply = await asyncio.to_thread(generate, prompt_text)

    Thread-safe and loop-agnostic: waiters on several event loops are woken on their own loop.
    """

    def __init__(self, max_skips: int = 64) -> None:
        self.max_skips = max_skips
        self._lock = threading.Lock()
        self._busy = False
        self._holder: asyncio.AbstractEventLoop | None = None  # the event loop of the call running
        self._last = ""
        self._waiting: list[_Waiter] = []

    @asynccontextmanager
    async def turn(self, prompt: str) -> AsyncIterator[None]:
        await self.acquire(prompt)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, prompt: str) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            # A holder whose event loop was closed without running its `finally` will never release.
            if not self._busy or (self._holder is not None and self._holder.is_closed()):
                self._busy, self._holder, self._last = True, loop, prompt
                return
            waiter = _Waiter(prompt, loop.create_future(), loop)
            self._waiting.append(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if not waiter.granted:
                    self._waiting.remove(waiter)
                    raise
            self.release()  # granted as it was cancelled: pass the turn on
            raise

    def release(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._busy, self._holder = False, None
                    return
                chosen = self._pick()
                chosen.granted, self._holder, self._last = True, chosen.loop, chosen.prompt
            try:
                chosen.loop.call_soon_threadsafe(_grant, chosen.future)
                return
            except RuntimeError:  # its event loop is closed: nobody waits there any more
                continue

    def _pick(self) -> _Waiter:
        overdue = [w for w in self._waiting if w.skipped >= self.max_skips]
        chosen = overdue[0] if overdue else max(self._waiting, key=lambda w: shared_prefix(w.prompt, self._last))
        self._waiting.remove(chosen)
        for waiter in self._waiting:
            waiter.skipped += 1
        return chosen


def _grant(future: asyncio.Future) -> None:
    if not future.done():  # cancelled meanwhile: acquire() passes the turn on
        future.set_result(None)


def shared_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b`` (a binary search over slice
    comparisons, which run in C, rather than a Python loop over characters)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low

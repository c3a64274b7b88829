"""Which waiting call the embedded model runs next: the one whose prompt shares the longest prefix
with the prompt it ran last, so that llama.cpp reuses that prefix from its KV cache.

llama-cpp-python keeps the KV cache of the last prompt and, on the next call, evaluates only the
tokens after the longest common prefix (``Llama.generate``'s prefix match). The calls of one node
share its instructions and demos, but an executor's items reach the model in the order they become
ready, interleaving nodes, and every switch of node evaluates the whole prompt again. The queue
regroups them: it lets one call run at a time and, when it ends, grants the model to the waiting
call with the longest shared prefix (the oldest among equals), so one node's calls run together.
A call passed over ``max_skips`` times goes next, so none waits for ever.

With several ``slots`` (model instances, each with its own KV cache), up to that many calls run at
once: a call that finds slots free takes the one whose last prompt shares the longest prefix with
its own, and a slot that frees up goes to the waiter sharing the longest prefix with that slot's
last prompt.
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
    slot: int = 0


class PrefixQueue:
    """Up to ``slots`` holders at a time; a freed slot goes to the waiter sharing the longest
    prompt prefix with the slot's last prompt.

    Example::

        queue = PrefixQueue(slots=2)
        async with queue.turn(prompt_text) as slot:
            reply = await asyncio.to_thread(generate, models[slot], prompt_text)

    Thread-safe and loop-agnostic: waiters on several event loops are woken on their own loop.
    """

    def __init__(self, max_skips: int = 64, slots: int = 1) -> None:
        self.max_skips = max_skips
        self._lock = threading.Lock()
        # the event loop of the call holding each slot, None where the slot is free
        self._holders: list[asyncio.AbstractEventLoop | None] = [None] * slots
        self._last = [""] * slots
        self._waiting: list[_Waiter] = []

    @asynccontextmanager
    async def turn(self, prompt: str) -> AsyncIterator[int]:
        """Hold a slot while the block runs; yields the slot's index."""
        slot = await self.acquire(prompt)
        try:
            yield slot
        finally:
            self.release(slot)

    async def acquire(self, prompt: str) -> int:
        loop = asyncio.get_running_loop()
        with self._lock:
            free = self._free_slots()
            if free:
                slot = max(free, key=lambda s: shared_prefix(self._last[s], prompt))  # the first among equals
                self._holders[slot], self._last[slot] = loop, prompt
                return slot
            waiter = _Waiter(prompt, loop.create_future(), loop)
            self._waiting.append(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if not waiter.granted:
                    self._waiting.remove(waiter)
                    raise
            self.release(waiter.slot)  # granted as it was cancelled: pass the turn on
            raise
        return waiter.slot

    def release(self, slot: int = 0) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._holders[slot] = None
                    return
                chosen = self._pick(self._last[slot])
                chosen.granted, chosen.slot = True, slot
                self._holders[slot], self._last[slot] = chosen.loop, chosen.prompt
            try:
                chosen.loop.call_soon_threadsafe(_grant, chosen.future)
                return
            except RuntimeError:  # its event loop is closed: nobody waits there any more
                continue

    def _free_slots(self) -> list[int]:
        # A holder whose event loop was closed without running its `finally` will never release.
        return [slot for slot, holder in enumerate(self._holders) if holder is None or holder.is_closed()]

    def _pick(self, last: str) -> _Waiter:
        overdue = [w for w in self._waiting if w.skipped >= self.max_skips]
        chosen = overdue[0] if overdue else max(self._waiting, key=lambda w: shared_prefix(w.prompt, last))
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

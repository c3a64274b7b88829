"""A run's cache lookups, made off the event loop, those of one loop iteration together.

Before a node runs, the executor asks the store's cache for its content key (and, for an LM node
whose key is not there, for a parse failure remembered beside it). Asked on the event loop's
thread, every such read waited for the store's lock while the writer thread (group.py) committed,
and every item in flight waited with it: two reads per node cost more than the rest of the store
path. Here the keys asked in one loop iteration are collected (``get`` buffers them; a callback at
the end of the iteration hands them over) and looked up together on a worker thread, while the
loop goes on with other nodes; one callback then resolves every key's future on the loop. One
batch is read at a time (keys asked meanwhile make the next one), so a run holds no more store
connections than it did (a PostgreSQL pool's), and a busy store gets bigger batches, not more.

Only where to ask changes: each key is read once, and its answer is what the store held when it
was asked, as before. Given the store's ``lookup_many``, a batch is one query (its keys and their
failure keys together) instead of one or two per key: the thread's CPU, which the loop's thread
waits for when it needs the interpreter, is then a fraction of what it was.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Callable

Lookup = Callable[[str], "str | None"]
LookupMany = Callable[[list[str]], "dict[str, str]"]  # the keys the cache holds -> their value hashes
Answer = tuple[str | None, str | None]  # (the key's value hash, its remembered failure's)
# The process's lookup threads (made on first use), not the loop's default executor: blocking LM
# calls (asyncio.to_thread) may fill that one, and a node's lookup must not wait for them.
_THREADS = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="plait-lookups")


class Lookups:
    """``get(key, failure_key)``: a future of (the value hash the cache holds for ``key``, and when
    it holds none and ``failure_key`` is given, the hash under ``failure_key``). With ``many``, a
    batch's keys are read by it in one call; else one ``lookup`` per key."""

    def __init__(self, lookup: Lookup, many: LookupMany | None = None) -> None:
        self._lookup, self._many = lookup, many
        self._buffer: list[tuple[str, str | None, asyncio.Future]] = []
        self._reading = False  # a batch is on the worker thread

    def get(self, key: str, failure_key: str | None) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._buffer.append((key, failure_key, future))
        if len(self._buffer) == 1 and not self._reading:  # hand the keys over at the iteration's end
            loop.call_soon(self._hand_over, loop)
        return future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._reading or not self._buffer:
            return
        batch, self._buffer, self._reading = self._buffer, [], True
        keys = [(key, failed) for key, failed, _ in batch]
        try:
            answers = loop.run_in_executor(_THREADS, self._answer, keys)
        except RuntimeError:  # the interpreter is shutting down: no new threads, so read them here
            answers = loop.create_future()
            answers.set_result(self._answer(keys))
        answers.add_done_callback(lambda done: self._read(loop, batch, done))

    def _answer(self, keys: list[tuple[str, str | None]]) -> list[Answer | Exception]:
        """On the worker thread: each key's answer, or what asking for it raised (a StoreError)."""
        if self._many is not None:
            return self._answer_together(keys)
        answers: list[Answer | Exception] = []
        for key, failure_key in keys:
            try:
                value_hash = self._lookup(key)
                answers.append((value_hash, self._lookup(failure_key) if value_hash is None and failure_key else None))
            except Exception as exc:  # noqa: BLE001 - handed to the node that asked
                answers.append(exc)
        return answers

    def _answer_together(self, keys: list[tuple[str, str | None]]) -> list[Answer | Exception]:
        """Every key and failure key of the batch in one ``many`` call; its error is every key's."""
        try:
            found = self._many([k for pair in keys for k in pair if k is not None])
        except Exception as exc:  # noqa: BLE001 - handed to the nodes that asked
            return [exc] * len(keys)
        return [(found.get(key), None if key in found or failure_key is None else found.get(failure_key))
                for key, failure_key in keys]

    def _read(self, loop: asyncio.AbstractEventLoop, batch: list, done: asyncio.Future) -> None:
        """Resolve the batch's futures (one cancelled meanwhile has no one waiting), then read the
        keys asked while it was read. ``done`` is never cancelled: nothing else holds it."""
        self._reading = False
        failed = done.exception()  # the worker itself failed: every key gets its error
        for (_, _, future), answer in zip(batch, [failed] * len(batch) if failed else done.result()):
            if not future.done():
                future.set_exception(answer) if isinstance(answer, BaseException) else future.set_result(answer)
        self._hand_over(loop)

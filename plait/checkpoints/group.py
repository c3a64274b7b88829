"""Group commit: a store's records written by one thread of their own, many nodes per transaction.

An executor records each finished node and then waits for the commit before it releases the node's
successors and events (a node counts as done only once recorded). Committing on the event loop's
thread made every item in flight wait for every commit. Instead the loop hands its records to this
writer once per loop iteration (``submit`` buffers them; a callback at the end of the iteration
passes the whole buffer on), and the writer thread commits everything handed to it since its last
commit in one transaction. It then resolves each record's future on its loop.

A batch that fails (a lease lost for one run, a value that breaks a constraint) is rolled back as a
whole and its records are written again one transaction each, so that each future carries its own
record's outcome and one bad record never fails another.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from plait.checkpoints.protocol import JournalRow


@dataclass(frozen=True)
class Record:
    """One ``Store.record`` call: a node's value, journal row, cache entry and item status."""

    row: JournalRow
    value: bytes | None
    cache: bool
    item_status: str | None
    owner: str | None = None
    drop: str | None = None  # a value only this row held until now (a node's replies so far): deleted with it


Pending = tuple[Record, asyncio.Future]
_STOP = None  # put on the queue by close(): the thread commits what it has and ends


class GroupWriter:
    """The one writer thread of a store. ``write_batch(records)`` writes records in one transaction;
    ``write_one(record)`` in a transaction of its own (used when a batch failed)."""

    def __init__(self, write_batch: Callable[[Sequence[Record]], None], write_one: Callable[[Record], None]) -> None:
        self._write_batch, self._write_one = write_batch, write_one
        self._queue: queue.SimpleQueue[list[Pending] | None] = queue.SimpleQueue()
        self._buffers: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.transactions = 0  # batches committed, for tests and benches: records / transactions

    def submit(self, record: Record) -> asyncio.Future:
        """Queue ``record`` (on the event loop's thread); the future resolves once it is committed
        (its result None) or raises what writing it raised."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            buffer = self._buffers.setdefault(loop, [])
            if not buffer:  # the first record of this loop iteration: hand the buffer over at its end
                loop.call_soon(self._hand_over, loop)
            buffer.append((record, future))
            self._start()
        return future

    def close(self) -> None:
        """Commit what was handed over, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _start(self) -> None:
        if self._thread is None:
            # a daemon: a process that exits without closing its store is not held up by it
            self._thread = threading.Thread(target=self._serve, name="plait-store-writer", daemon=True)
            self._thread.start()

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            buffer = self._buffers.pop(loop, [])
        if buffer:
            self._queue.put(buffer)

    def _serve(self) -> None:
        while True:
            handed = [self._queue.get()]
            while not self._queue.empty():  # everything handed over while the last commit ran
                handed.append(self._queue.get())
            batch = [pending for part in handed if part is not _STOP for pending in part]
            if batch:
                self._commit(batch)
            if _STOP in handed:
                return

    def _commit(self, batch: list[Pending]) -> None:
        try:
            self._write_batch([record for record, _ in batch])
            self.transactions += 1
            outcomes: list[BaseException | None] = [None] * len(batch)
        except Exception:  # noqa: BLE001 - each record again, alone, to find whose it was
            outcomes = [self._alone(record) for record, _ in batch]
        _resolve(batch, outcomes)

    def _alone(self, record: Record) -> BaseException | None:
        try:
            self._write_one(record)
            self.transactions += 1
            return None
        except Exception as exc:  # noqa: BLE001 - handed to the node that waits for this record
            return exc


def _resolve(batch: list[Pending], outcomes: list[BaseException | None]) -> None:
    """Resolve each future on its own loop (a loop that has closed has no one waiting)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, BaseException | None]]] = {}
    for (_, future), outcome in zip(batch, outcomes):
        by_loop.setdefault(future.get_loop(), []).append((future, outcome))
    for loop, done in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, done)
        except RuntimeError:  # the loop is closed
            continue


def _settle(done: list[tuple[asyncio.Future, Any]]) -> None:
    for future, outcome in done:
        if future.done():  # cancelled: the node's task was cancelled while it waited
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)

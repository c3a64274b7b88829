"""A run's items, handed to an executor one at a time and forgotten once finished.

An executor iterates an ItemFeed lazily (the local executor takes the next item as it releases one),
so a run holds in memory only the items in flight and those that did not finish done (failed,
waiting, interrupted: few, and their exceptions and questions exist only in this process). A done
item is counted and dropped when its results can be read back from the store (``keep_done``
False); without such a store, every item is kept.

``stored_states`` builds the items of a new run from the store, a chunk at a time: their inputs as
the store gives them back, as resume reads them."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator, Sequence

from plait.checkpoints.codec import Codec
from plait.checkpoints.protocol import Store
from plait.errors import StoreError
from plait.runtime.executor import ItemState

READ_CHUNK = 256  # items whose inputs are read back from the store in one query
_SWEEP_FIRST = 128  # items tracked before a sweep (at least; twice those still open after the last)


class ItemFeed:
    """``count`` items from ``states`` (in position order). After the run: ``kept`` (position ->
    final state of every item not dropped), ``statuses`` (how many items ended in each status;
    'running' for those that never finished) and ``yielded`` (how many the executor took).
    ``keep_done`` False: a done item is dropped, and ``ids`` (position -> item id) says what to read back."""

    def __init__(self, count: int, states: Iterable[ItemState], *, keep_done: bool = True,
                 ids: Sequence[str] | None = None) -> None:
        self.count, self._states, self.keep_done = count, iter(states), keep_done
        self.ids = ids  # the items' ids by position, for reading dropped ones back
        self.kept: dict[int, ItemState] = {}
        self.statuses: Counter[str] = Counter()
        self.yielded = 0
        self._open: list[ItemState] = []
        self._sweep_at = _SWEEP_FIRST

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[ItemState]:
        for state in self._states:
            self.yielded += 1
            self._open.append(state)
            if len(self._open) >= self._sweep_at:
                self._sweep()
            yield state

    def _sweep(self) -> None:
        """Settle the finished items; amortized O(1) per item, as the threshold doubles with what stays open."""
        self._open = [s for s in self._open if not self._settled(s)]
        self._sweep_at = max(_SWEEP_FIRST, 2 * len(self._open))

    def _settled(self, state: ItemState) -> bool:
        if state.status == "running":
            return False
        self.statuses[state.status] += 1
        if state.status != "done" or self.keep_done:
            self.kept[state.position] = state
        return True

    def finish(self) -> None:
        """After the run: settle every item; one still running (stopped by the budget, interrupted)
        is kept as it is. Items never taken (only when the run raised: an executor takes them all)
        count as running, and are not read."""
        self._sweep()
        for state in self._open:
            self.statuses[state.status] += 1
            self.kept[state.position] = state
        self._open = []
        self.statuses["running"] += self.count - self.yielded

    def status(self, stopped: bool) -> str:
        """The run's status from its items' (as runs.py has always said it)."""
        if self.statuses["running"]:
            return "stopped" if stopped else "interrupted"
        if self.statuses["waiting"]:
            return "waiting"
        return "failed" if self.statuses["failed"] else "done"


def stored_states(store: Store, codec: Codec, ids: Sequence[str], digests: bytes,
                  failures: dict[int, ItemState]) -> Iterator[ItemState]:
    """The states of ``len(ids)`` stored items, read back a chunk at a time: item i's input is the
    value whose sha256 is ``digests[32 i: 32 i + 32]``; ``failures`` are those that failed validation."""
    for start in range(0, len(ids), READ_CHUNK):
        positions = [p for p in range(start, min(start + READ_CHUNK, len(ids))) if p not in failures]
        hashes = {p: digests[32 * p: 32 * p + 32].hex() for p in positions}
        values = store.read_values(list(hashes.values()))  # one query, not one per item
        for position in range(start, min(start + READ_CHUNK, len(ids))):
            if position in failures:
                yield failures.pop(position)
            else:
                data = values.get(hashes[position])
                data = store.read_value(hashes[position]) if data is None else data  # read_value says what is wrong
                yield stored_item(codec, ids[position], position, data)


def stored_item(codec: Codec, item_id: str, position: int, data: bytes) -> ItemState:
    try:
        return ItemState(item_id, position, codec.decode(data, f"item {item_id}'s input"))
    except StoreError as exc:  # an input that does not read back fails its item, not the run
        return ItemState(item_id, position, {}, "failed", error=exc)

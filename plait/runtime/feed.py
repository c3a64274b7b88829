"""A run's items, handed to an executor one at a time and forgotten once finished.

An executor iterates an ItemFeed lazily (the local executor takes the next item as it releases one),
so a run holds in memory only the items in flight and those that did not finish done (failed,
waiting, interrupted: few, and their exceptions and questions exist only in this process). A done
item is counted and dropped when its results can be read back from the store (``keep_done``
False); without such a store, every item is kept.

``stored_states`` builds the items of a new run from the store, a chunk at a time: their inputs as
the store gives them back, as resume reads them."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

from plait.checkpoints.codec import Codec
from plait.checkpoints.protocol import Store
from plait.errors import StoreError
from plait.runtime.executor import ItemState

READ_CHUNK = 256  # items whose inputs are read back from the store in one query
_SWEEP_FIRST = 128  # items tracked before a sweep (at least; twice those still open after the last)


class ItemFeed:
    """``count`` items from ``states`` (in position order). After the run (``finish``), ``kept``
    holds position -> final state of every item not dropped. ``keep_done`` False: a done item is
    dropped, and ``ids`` (position -> item id) says what to read back."""

    def __init__(self, count: int, states: Iterable[ItemState], *, keep_done: bool = True,
                 ids: Sequence[str] | None = None) -> None:
        self.count, self._states, self.keep_done, self.ids = count, iter(states), keep_done, ids
        self.kept: dict[int, ItemState] = {}
        self._open: list[ItemState] = []
        self._sweep_at, self._taken = _SWEEP_FIRST, 0

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[ItemState]:
        for state in self._states:
            self._taken += 1
            self._open.append(state)
            if len(self._open) >= self._sweep_at:  # amortized O(1): the threshold doubles with what stays open
                self._open = [s for s in self._open if s.status == "running" or self._settle(s)]
                self._sweep_at = max(_SWEEP_FIRST, 2 * len(self._open))
            yield state

    def _settle(self, state: ItemState) -> bool:
        if state.status != "done" or self.keep_done:
            self.kept[state.position] = state
        return False

    def finish(self, stopped: bool) -> str:
        """After the run: settle every item (one still running, stopped by the budget or cut short,
        is kept as it is) and say the run's status. Items never taken (only when the run raised: an
        executor takes them all) count as running, and are not read."""
        for state in self._open:
            self._settle(state)
        statuses = {s.status for s in self.kept.values()} | ({"running"} if self._taken < self.count else set())
        if "running" in statuses:
            return "stopped" if stopped else "interrupted"
        return "waiting" if "waiting" in statuses else "failed" if "failed" in statuses else "done"


def stored_states(store: Store, codec: Codec, ids: Sequence[str], hashes: Sequence[str],
                  failures: dict[int, ItemState], chunk: int = 0) -> Iterator[ItemState]:
    """The states of stored items, item i's input read back, ``chunk`` items (READ_CHUNK) per query,
    from the value ``hashes[i]``; ``failures``: position -> state of those that failed input validation."""
    chunk = chunk or READ_CHUNK
    for start in range(0, len(ids), chunk):
        positions = range(start, min(start + chunk, len(ids)))
        values = store.read_values([hashes[p] for p in positions if p not in failures])  # one query per chunk
        for p in positions:
            if p in failures:
                yield failures.pop(p)
            else:  # read_value says what is wrong with a value the query did not find
                data = values.get(hashes[p]) or store.read_value(hashes[p])
                yield stored_item(codec, ids[p], p, data)


class Computed(Sequence):
    """``count`` values computed from their position when asked: default ids, hashes from digests."""

    def __init__(self, count: int, at: Callable[[int], str]) -> None:
        self.count, self.at = count, at

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> str:
        return self.at(range(self.count)[index])


def stored_item(codec: Codec, item_id: str, position: int, data: bytes) -> ItemState:
    try:
        return ItemState(item_id, position, codec.decode(data, f"item {item_id}'s input"))
    except StoreError as exc:  # an input that does not read back fails its item, not the run
        return ItemState(item_id, position, {}, "failed", error=exc)

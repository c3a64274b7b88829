"""A finished run's items read from its SQLite file when asked, so that a run's size costs no memory.

``run.items`` (and ``run.outputs``) of a run with a store file is a read-only sequence: an item
that finished done is read back from the store (its OUTPUT node's recorded value, a chunk of
items per query, the file opened for the read and closed after), as ``plait.open_run`` reads it;
the items that did not finish done (failed, waiting, interrupted) are held in memory, with their
exceptions and questions. Indexing, slicing, iteration, ``len`` and ``==`` work as on a list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from plait.api.results import ItemResult
from plait.checkpoints.codec import codec_for
from plait.checkpoints.location import open_location
from plait.errors import StoreError
from plait.ir.nodes import Node
from plait.pipeline.prediction import Prediction
from plait.runtime.executor import value_fields

CHUNK = 256  # items read per query


class StoredItems(Sequence):
    """``ids[i]``: item i's id; ``kept``: position -> result of each item that did not finish done;
    ``shown``: what an item shows of its result (``outputs()`` shows its outputs)."""

    def __init__(self, path: str, run_id: str, output: Node, ids: Sequence[str], kept: dict[int, ItemResult],
                 shown: Callable[[ItemResult], Any] = lambda result: result) -> None:
        self.path, self.run_id, self.output, self.ids, self.kept, self.shown = path, run_id, output, ids, kept, shown
        self._cached: tuple[int, list[ItemResult]] = (-1, [])  # the chunk read last: reading in order reads each once

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        position = range(len(self))[index]  # IndexError as a list raises it
        start = position - position % CHUNK
        if self._cached[0] != start:
            self._cached = (start, self._read(start))
        return self.shown(self._cached[1][position - start])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"<{len(self)} items of run {self.run_id}, read from {self.path}>"

    def outputs(self) -> StoredItems:
        return StoredItems(self.path, self.run_id, self.output, self.ids, self.kept, lambda result: result.outputs)

    def not_done(self) -> list[ItemResult]:
        """The items that did not finish done, in order: they are in memory."""
        return [self.kept[p] for p in sorted(self.kept)]

    def _read(self, start: int) -> list[ItemResult]:
        positions = range(start, min(start + CHUNK, len(self)))
        done = [self.ids[p] for p in positions if p not in self.kept]
        store = open_location(self.path, create=False)
        try:  # the OUTPUT node's rows joined with their values: one query per chunk (replay_reads.py)
            rows = store.replay_rows(self.run_id, done, node_id=self.output.id) if done else {}
            values = {i: nodes[self.output.id][1] for i, nodes in rows.items() if self.output.id in nodes}
            return [self.kept.get(p) or self._result(store, self.ids[p], values.get(self.ids[p])) for p in positions]
        finally:
            store.close()

    def _result(self, store: Any, item_id: str, data: bytes | None) -> ItemResult:
        try:
            if data is None:  # no row with its value (no replay key before store schema 4, a value lost): alone
                row = store.journal(self.run_id, [item_id]).get((item_id, self.output.id, 0))
                if row is None or row.value_hash is None:
                    return ItemResult(item_id, "done", None, "the store holds no outputs for this item")
                data = store.read_value(row.value_hash)  # raises the StoreError that says what is wrong
            decoded = codec_for(value_fields(self.output)).decode(data, f"the outputs of item {item_id}")
        except StoreError as exc:  # one item's unreadable outputs never hide the others
            return ItemResult(item_id, "failed", None, str(exc), exc)
        return ItemResult(item_id, "done", Prediction(decoded))

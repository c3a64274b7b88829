"""A new run's items into the store, a chunk at a time, as they are read from the user's dataset
(a list, or any iterable: a generator is read once, in order).

All items are stored before any runs, so that a crash at any moment leaves a run that resumes over
every item. A dataset larger than one chunk is stored over several transactions: the run is
created with status 'storing' and becomes 'running' once its last item is in. A run found
'storing' was cut short before that and cannot be resumed (its dataset is gone); resume says so.
What stays in memory per item: its input's sha256 (32 bytes, to read it back) and, for an item
that failed validation, its error."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import islice

from plait.checkpoints.protocol import RunRecord, Store
from plait.errors import PlaitError
from plait.runtime.executor import ItemState
from plait.runtime.journal import StepJournal

STORE_CHUNK = 2048  # items stored per transaction
STORING = "storing"  # a run's status while its items are being stored


@dataclass
class Admitted:
    """What a run keeps of its stored items: ``digests`` (32 bytes per item: the sha256 of its
    input, which ``feed.stored_states`` reads back) and the items that failed validation."""

    count: int = 0
    digests: bytearray = field(default_factory=bytearray)
    failures: dict[int, ItemState] = field(default_factory=dict)

    def take(self, chunk: list[tuple[ItemState, bytes]]) -> list[tuple[str, bytes]]:
        for state, blob in chunk:
            self.digests += hashlib.sha256(blob).digest()
            if state.status == "failed":
                self.failures[state.position] = state
        self.count += len(chunk)
        return [(state.item_id, blob) for state, blob in chunk]


def store_items(store: Store, record: RunRecord, items: Iterable[tuple[ItemState, bytes]], input_id: str) -> Admitted:
    """Create the run ``record`` holding ``items`` ((state, input JSON) pairs), a chunk at a time;
    an item that failed validation is recorded failed at ``input_id``."""
    admitted, journal, source = Admitted(), StepJournal(store, record.run_id), iter(items)
    chunk, following = list(islice(source, STORE_CHUNK)), next(source, None)  # look-ahead: more than one chunk?
    in_parts = following is not None
    store.create_run(replace(record, status=STORING if in_parts else record.status), admitted.take(chunk))
    _record_failures(journal, chunk, input_id)
    while following is not None:
        chunk = [following, *islice(source, STORE_CHUNK - 1)]
        following = next(source, None)
        store.add_items(record.run_id, admitted.take(chunk))
        _record_failures(journal, chunk, input_id)
    if in_parts:
        store.set_run(record.run_id, status=record.status)
    return admitted


def _record_failures(journal: StepJournal, chunk: list[tuple[ItemState, bytes]], input_id: str) -> None:
    for state, _ in chunk:
        if state.status == "failed":
            journal.record_input_failure(state.item_id, input_id, str(state.error))


def check_resumable(record: RunRecord) -> None:
    """A run cut short while its items were being stored holds only some of them: refuse it."""
    if record.status == STORING:
        raise PlaitError(f"run {record.run_id} stopped while its items were being stored, before it ran",
                         expected="a run whose items are all stored (status 'running' or later)",
                         found=f"status '{STORING}': only part of its dataset is in the store",
                         fix="start it again with compiled.run(dataset, ...)")

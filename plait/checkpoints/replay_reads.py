"""What a resume reads before it runs anything, without building a JournalRow per step.

A resume of a finished run replays every item from its rows (plait/runtime/replay.py); reading
the whole journal as JournalRow objects up front, and then each batch's values, was most of its
time. Here the store answers the two questions a resume asks, each in the SQL both stores share:

- ``replay_rows``: for a batch of items, each item's finished rows (iteration 0, 'ok', with a replay
  key and a value hash) joined with their values, in one query: what replay needs and nothing else.
- ``recorded_counts``: how many finished rows each node has (iteration 0, 'ok'), summed by the
  database: what the run's start event and "will it compute anything?" need.

Both SQL texts are here and nowhere else (a schema change adapts them in one place).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, Sequence

from plait.checkpoints.layout import key_text
from plait.checkpoints.protocol import ReplayRows

# A row without a replay key (written before store schema 4) is left out: the normal path matches it
# by its content key. LEFT JOIN: a value missing from blobs comes back as NULL, and replay leaves the
# item to the normal path, which fails it with the StoreError that says so.
REPLAY_ROWS = """SELECT journal.item_id, journal.node_id, journal.replay_key, journal.value_hash, blobs.data
FROM journal LEFT JOIN blobs ON blobs.hash = journal.value_hash
WHERE journal.run_no = (SELECT run_no FROM runs WHERE run_id = ?) AND journal.iteration = 0 AND journal.status = 'ok'
    AND journal.replay_key IS NOT NULL AND journal.value_hash IS NOT NULL AND journal.item_id IN ({marks}){node}"""
RECORDED_COUNTS = """SELECT node_id, COUNT(*) FROM journal WHERE run_no = (SELECT run_no FROM runs WHERE run_id = ?)
    AND iteration = 0 AND status = 'ok'
GROUP BY node_id"""
CHUNK = 500  # item ids per query: well under any database's limit on parameters



class ReplayReads(ABC):
    """The two reads of a resume (see the module docstring), for a store with ``_query``."""

    @abstractmethod
    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """The rows of one read."""

    def replay_rows(self, run_id: str, item_ids: Sequence[str], node_id: str | None = None) -> ReplayRows:
        """Each of ``item_ids``' finished rows by node (only ``node_id``'s, if given), with its value,
        in one query per CHUNK items."""
        found: ReplayRows = {item_id: {} for item_id in item_ids}
        one_node, only = (" AND journal.node_id = ?", (node_id,)) if node_id is not None else ("", ())
        for chunk in (item_ids[start:start + CHUNK] for start in range(0, len(item_ids), CHUNK)):
            sql = REPLAY_ROWS.format(marks=",".join("?" * len(chunk)), node=one_node)
            for item_id, node, replay_key, value_hash, data in self._query(sql, (run_id, *chunk, *only)):
                found[item_id][node] = (key_text(replay_key), _checked(value_hash, data))
        return found

    def recorded_counts(self, run_id: str) -> dict[str, int]:
        """node id -> how many items have its finished row (iteration 0, 'ok')."""
        return {node_id: int(count) for node_id, count in self._query(RECORDED_COUNTS, (run_id,))}


def _checked(stored_hash: Any, data: Any) -> bytes | None:
    """The value, if it is there and matches its hash (as ``read_values`` keeps only those). A
    digest is stored as its 32 bytes (layout.py): compared as such, without its hex."""
    if data is None:
        return None
    data = bytes(data)
    digest = hashlib.sha256(data).digest()
    return data if stored_hash == digest or key_text(stored_hash) == digest.hex() else None

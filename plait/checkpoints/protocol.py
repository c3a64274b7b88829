"""The checkpoint store protocol: what the executor needs from any store.

The SQLite store is the embedded default; a PostgreSQL store would implement the same methods.
Values are JSON bytes addressed by their sha256; the journal maps (run, item, node, iteration) to
a value; the cache maps content keys to values (DESIGN.md, contract 2 and 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class JournalRow:
    """One node execution of one item. ``status`` is 'ok' or 'failed'.

    ``source`` says where the value came from: 'lm' or 'step' (computed), 'cache' (another run's
    output with the same content key), 'journal' (copied from the parent of a forked run).
    """

    run_id: str
    item_id: str
    node_id: str
    iteration: int
    content_key: str
    value_hash: str | None
    status: str
    source: str
    error: str | None = None
    lm: str | None = None
    usage: dict[str, Any] | None = None
    attempts: int = 1


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    plan_hash: str
    status: str
    created_at: float
    updated_at: float
    parent_run: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemRecord:
    item_id: str
    position: int
    input_hash: str
    status: str
    error: str | None = None


class Store(Protocol):
    path: str

    def save_plan(self, plan_json: str) -> str: ...
    def load_plan(self, plan_hash: str) -> str: ...

    def create_run(self, run: RunRecord, items: list[tuple[str, bytes]]) -> None: ...
    def add_items(self, run_id: str, items: list[tuple[str, bytes]]) -> None: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def list_runs(self) -> list[RunRecord]: ...
    def set_run(self, run_id: str, *, status: str | None = None, plan_hash: str | None = None) -> None: ...
    def run_items(self, run_id: str) -> list[ItemRecord]: ...

    def journal(self, run_id: str) -> dict[tuple[str, str, int], JournalRow]: ...
    def lookup(self, content_key: str) -> str | None: ...
    def read_value(self, value_hash: str) -> bytes: ...
    def record(self, row: JournalRow, value: bytes | None, *, cache: bool, item_status: str | None) -> None: ...
    def copy_journal(self, source_run: str, target_run: str, node_ids: set[str]) -> int: ...

    def close(self) -> None: ...

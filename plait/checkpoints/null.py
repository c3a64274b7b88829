"""A store that keeps nothing: for eager calls and for measuring the cost of durability."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from plait.checkpoints.protocol import Garbage, ItemRecord, JournalRow, Lease, ReplayRows, RunRecord
from plait.checkpoints.spend import Spend
from plait.errors import RunNotFound, StoreError

if TYPE_CHECKING:
    from plait.checkpoints.asks import Question


class NullStore:
    path = ":none:"

    def save_plan(self, plan_json: str) -> str:
        return ""

    def load_plan(self, plan_hash: str) -> str:
        raise RunNotFound("runs without a store cannot be resumed", fix="pass store='runs.db' to run()")

    def create_run(self, run: RunRecord, items: list[tuple[str, bytes]]) -> None:
        pass

    def add_items(self, run_id: str, items: list[tuple[str, bytes]]) -> None:
        pass

    def get_run(self, run_id: str) -> RunRecord:
        raise RunNotFound(f"run '{run_id}' ran without a store and cannot be resumed",
                          fix="pass store='runs.db' to run()")

    def list_runs(self) -> list[RunRecord]:
        return []

    def set_run(self, run_id: str, *, status: str | None = None, plan_hash: str | None = None) -> None:
        pass

    def run_items(self, run_id: str) -> list[ItemRecord]:
        return []

    def journal(self, run_id: str, item_ids: Sequence[str] | None = None) -> dict[tuple[str, str, int], JournalRow]:
        return {}

    def lookup(self, content_key: str) -> str | None:
        return None

    def lookup_many(self, content_keys: Sequence[str]) -> dict[str, str]:
        return {}

    def read_value(self, value_hash: str) -> bytes:
        raise StoreError(f"value {value_hash[:12]} is not in the store: store=False keeps nothing",
                         expected="a value a run recorded", found="no store",
                         fix="run with a store (store='runs.db') to read its values back")

    def read_values(self, value_hashes: Sequence[str]) -> dict[str, bytes]:
        return {}

    def replay_rows(self, run_id: str, item_ids: Sequence[str], node_id: str | None = None) -> ReplayRows:
        return {item_id: {} for item_id in item_ids}

    def recorded_counts(self, run_id: str) -> dict[str, int]:
        return {}

    def record(self, row: JournalRow, value: bytes | None, *, cache: bool, item_status: str | None,
               owner: str | None = None, drop: str | None = None) -> None:
        pass

    def copy_journal(self, source_run: str, target_run: str, node_ids: set[str]) -> int:
        return 0

    def writer(self) -> None:
        return None  # records keep nothing: made in place, no thread

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> None:
        pass  # nothing is stored, so nothing can be resumed twice

    def renew_lease(self, run_id: str, owner: str, ttl: float) -> None:
        pass

    def release_lease(self, run_id: str, owner: str) -> None:
        pass

    def lease(self, run_id: str) -> Lease | None:
        return None

    def item_counts(self) -> dict[str, dict[str, int]]:
        return {}

    def spending(self) -> dict[str, Spend]:
        return {}

    def journal_summary(self, run_id: str) -> list:
        return []

    def key_requests(self, content_keys: Sequence[str]) -> dict[str, int]:
        return {}

    def collect_garbage(self, run_ids: Sequence[str] = (), *, dry_run: bool = False) -> Garbage:
        return Garbage()

    def vacuum(self) -> int:
        return 0

    def export_run(self, run_id: str) -> Any:
        return self.get_run(run_id)  # RunNotFound: nothing was kept

    def import_run(self, rows: Any) -> dict[str, int]:
        return {}

    def record_ask(self, q: Question, *, owner: str | None = None) -> None:
        pass  # a run without a store keeps its waiting items' questions in memory only (Run.pending)

    def asks(self, run_id: str, *, unanswered: bool = False) -> list[Question]:
        return []

    def question(self, key: tuple) -> Question | None:
        return None

    def answer_ask(self, key: tuple, answer: dict, by: str) -> Question | None:
        return None

    def close(self) -> None:
        pass

"""The checkpoint store protocol: what the executor needs from any store.

The SQLite store is the embedded default; the PostgreSQL store (shared between machines)
implements the same methods with the same SQL (sql_store.py).
Values are JSON bytes addressed by their sha256; the journal maps (run, item, node, iteration) to
a value; the cache maps content keys to values (DESIGN.md, contract 2 and 3). A lease says which
process is running a run right now; ``collect_garbage`` deletes runs and the values only they used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, Sequence

from plait.checkpoints.spend import Spend

# item id -> node id -> (the row's replay key, its value; None if missing or not matching its hash)
ReplayRows = dict[str, dict[str, tuple[str, bytes | None]]]


class _Word(str, Enum):
    """A word stored in the journal as its plain string, so that stores written by any plait read
    back alike; it prints and compares as that string."""

    __str__ = str.__str__
    __format__ = str.__format__


class Status(_Word):
    """What a journal row says about its step."""

    OK = "ok"  # finished: its value replays within the run (and, if reusable, is cached)
    FAILED = "failed"  # gave up: the error (and an LM's raw replies) kept; the item failed
    RETRYING = "retrying"  # an attempt failed and another follows: attempts count across crashes
    PROPOSED = "proposed"  # an agent's decision whose tool call has not finished: it is not asked again


class Source(_Word):
    """Where a row's value (or a run event's) came from."""

    LM = "lm"  # an LM answered (re-asks and retries included)
    STEP = "step"  # a step function computed it
    HUMAN = "human"  # a person's answer
    LOOP = "loop"  # a LOOP node's trajectory, from its iterations' rows
    OUTPUT = "output"  # an OUTPUT node: the item's outputs
    INPUT = "input"  # an INPUT node's row: the item's input did not validate
    CACHE = "cache"  # another run's output with the same content key (or its remembered parse failure)
    JOURNAL = "journal"  # copied from the parent of a forked run (rerun from a node)
    REPLAY = "replay"  # events only: this run's own recorded output, replayed


def as_word(kind: type[_Word], text: str) -> Any:
    """The member of ``kind`` stored as ``text``; a word this plait does not know (written by a newer
    one) reads back as the plain string, so that the row can still be shown."""
    return kind._value2member_map_.get(text, text)


@dataclass(frozen=True, kw_only=True)
class JournalRow:
    """One step (a node, or a loop's iteration) of one item, keyed by (run, item, node, iteration).

    Built only by plait.runtime.journal (the one check-else-run-and-record primitive) and by a store
    reading its rows back. ``content_key`` finds the value in the cache; ``replay_key`` what the row
    replays for within its run (keys.replay_key; None in rows written before store schema 4, which
    replay by their content key). ``attempts``: the LM attempts this row adds to the step's count
    (a breaker's refusals included: they bound the retries); ``spent``: the LM requests, replies,
    tokens and cost this row adds to the step's (spend.py; zero in rows copied from a parent run).
    """

    run_id: str
    item_id: str
    node_id: str
    iteration: int = 0
    content_key: str = ""
    value_hash: str | None = None
    status: Status
    source: Source
    error: str | None = None
    lm: str | None = None
    usage: dict[str, Any] | None = None
    attempts: int = 1
    replay_key: str | None = None
    spent: Spend = Spend()


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


@dataclass(frozen=True)
class Lease:
    """Who is running a run: ``owner`` (an opaque token), on ``host`` as ``pid``, until ``expires_at``."""

    run_id: str
    owner: str
    host: str
    pid: int
    acquired_at: float
    expires_at: float

    def live(self, now: float) -> bool:
        return self.expires_at > now


@dataclass(frozen=True)
class Garbage:
    """What :meth:`Store.collect_garbage` deleted (or, in a dry run, would delete)."""

    runs: tuple[str, ...] = ()
    items: int = 0
    journal_rows: int = 0
    values: int = 0
    value_bytes: int = 0
    cache_entries: int = 0
    plans: int = 0


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

    # ``item_ids``: only those items' rows (a Ray worker reads its shard's, not the whole run's)
    def journal(self, run_id: str, item_ids: Sequence[str] | None = None) -> dict[tuple[str, str, int], JournalRow]: ...
    def lookup(self, content_key: str) -> str | None: ...
    # many cache keys in one query: those the cache holds, each with its value's hash
    def lookup_many(self, content_keys: Sequence[str]) -> dict[str, str]: ...
    def read_value(self, value_hash: str) -> bytes: ...
    # many values in one query: those found and matching their hash (read_value explains the others)
    def read_values(self, value_hashes: Sequence[str]) -> dict[str, bytes]: ...
    # What a resume reads (replay_reads.py): each of a batch of items' finished rows by node, as (replay
    # key, value bytes or None), in one query; and how many finished rows each node has.
    def replay_rows(self, run_id: str, item_ids: Sequence[str], node_id: str | None = None) -> ReplayRows: ...
    def recorded_counts(self, run_id: str) -> dict[str, int]: ...
    def record(self, row: JournalRow, value: bytes | None, *, cache: bool, item_status: str | None,
               owner: str | None = None, drop: str | None = None) -> None: ...
    def copy_journal(self, source_run: str, target_run: str, node_ids: set[str]) -> int: ...
    # The store's writer thread (group.py), which commits many records per transaction off the event
    # loop; None: a store that keeps nothing, whose records the executor makes in place.
    def writer(self) -> Any: ...

    # At most one process runs a run at a time: acquire raises LeaseHeld while another owner's lease
    # is live (an expired one is taken over); renew extends ours, or raises if it was taken over;
    # release drops it. record(..., owner=...) writes only while that owner holds the lease.
    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> None: ...
    def renew_lease(self, run_id: str, owner: str, ttl: float) -> None: ...
    def release_lease(self, run_id: str, owner: str) -> None: ...
    def lease(self, run_id: str) -> Lease | None: ...

    # Questions to people (asks.py): recorded once before the item waits; answered at most once,
    # without the lease; answer_ask returns the question as stored afterwards.
    def record_ask(self, q: Any, *, owner: str | None = None) -> None: ...
    def asks(self, run_id: str, *, unanswered: bool = False) -> list[Any]: ...
    def question(self, key: tuple) -> Any: ...
    def answer_ask(self, key: tuple, answer: dict[str, Any], by: str) -> Any: ...

    # Maintenance: per-run item counts by status; delete runs, then every value, cache entry and
    # plan no remaining run references (all in one transaction; a dry run rolls it back).
    def item_counts(self) -> dict[str, dict[str, int]]: ...
    def spending(self) -> dict[str, Spend]: ...  # per run, its journal's LM requests, tokens and cost
    def journal_summary(self, run_id: str) -> list[tuple[str, str, bool, int, Spend]]: ...  # summed in SQL
    def key_requests(self, content_keys: Sequence[str]) -> dict[str, int]: ...  # the most any row spent per key
    def collect_garbage(self, run_ids: Sequence[str] = (), *, dry_run: bool = False) -> Garbage: ...
    def vacuum(self) -> int: ...

    # Moving runs between stores (transfer.py): a run as rows of the tables; writing the rows the
    # store lacks, keeping those it has (returns the new rows per table).
    def export_run(self, run_id: str) -> Any: ...
    def import_run(self, rows: Any) -> dict[str, int]: ...

    def close(self) -> None: ...

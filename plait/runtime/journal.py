"""Check, else run and record: the one place a step's journal row is looked up and written.

A step is one node of one item, or one iteration of a LOOP node: (item, node, iteration) within a
run (DESIGN.md contracts 2-5). As DBOS's ``invoke_step`` does, a caller
  1. checks this run's journal for the step's recorded result, under its replay key  (``recorded``)
  2. else checks the cache under its content key: a value, or a remembered parse failure
     (``cached``, ``cached_failure``)
  3. else runs it, its failed LM attempts journaled as they happen, so that a crash does not give
     it a fresh set of attempts                                              (``call``, ``record_attempt``)
  4. and records its value or its error with its journal row, in one transaction
     (``record_ok``, ``record_proposed``, ``record_failed``, ``record_failed_iteration``).
The executor (nodes) and the loop runner (iterations) both call it; nothing else builds a
``JournalRow``. It needs only a store, a run id and the run's rows, so a Ray worker holding a plan
and a store drives it exactly as the local executor does.

Within a run a recorded result is authoritative, whichever LM produced it. Across runs the cache
decides, and it never holds a fallback LM's answer under the primary's key, an answer a person
shaped, or a parse failure that was given fewer re-asks than the current run allows.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

from plait.checkpoints.group import GroupWriter, Record
from plait.checkpoints.keys import failure_key
from plait.checkpoints.protocol import JournalRow, Source, Status, Store
from plait.checkpoints.spend import Spend
from plait.errors import NodeError, OutputParseError, PlaitError
from plait.hashing import sha256_hex
from plait.ir.nodes import Node, Op
from plait.lm.protocol import Usage
from plait.runtime.calls import NodeCall, Reply
from plait.runtime.lookups import Lookups

Rows = dict[tuple[str, str, int], JournalRow]
READ_CHUNK = 500  # item ids per journal query: well under any database's limit on parameters


@dataclass(frozen=True)
class Keys:
    """A step's two keys (plait/checkpoints/keys.py): ``content`` finds it in the cache, under the
    LM that answers; ``replay`` finds it in this run's journal, whichever LM answered."""

    content: str
    replay: str

    def next(self, value_hash: str) -> Keys:
        """A loop's next iteration's keys: these chained with this iteration's entry (a Merkle chain)."""
        return Keys(sha256_hex(f"{self.content}|{value_hash}"), sha256_hex(f"{self.replay}|{value_hash}"))


class StepJournal:
    """One run's steps, looked up and recorded. ``rows``: the run's journal as read at the start
    (this process's or shard's items; None: ``read_rows`` reads those it is asked for); ``force``:
    node ids that must recompute; ``reset_attempts``: forget the attempts unfinished steps made;
    ``parse_retries``: the re-asks this run allows.

    ``writer``: the store's writer thread (group.py). With it, a ``record_*`` call queues its
    record and the caller awaits ``committed()`` right after it (before any other await) to hold
    the step's successors until the record is committed; without it, records commit in place."""

    def __init__(self, store: Store, run_id: str, *, owner: str | None = None, rows: Rows | None = None,
                 force: frozenset[str] = frozenset(), reset_attempts: bool = False, parse_retries: int = 2,
                 writer: GroupWriter | None = None, threads: bool = True) -> None:
        self.store, self.run_id, self.owner = store, run_id, owner  # owner: record only while it holds the lease
        self.rows, self.force = rows or {}, force
        self._rows_read = rows is not None  # else read_rows reads them, for the items it is given
        self.reset_attempts, self.parse_retries = reset_attempts, parse_retries
        self.writer = writer
        self._queued: list[asyncio.Future] = []  # records queued since the last committed()
        self._unread: dict[str, list[str]] | None = None  # item -> its recorded values' hashes, not yet read
        self._values: dict[str, bytes] = {}  # values read ahead, until replay has taken them
        self._takers: Counter[str] = Counter()  # how many rows read ahead still have to take each
        # a store with a writer thread is asked for cache keys off the loop too (lookups.py); not under
        # a fake clock (``threads`` False), whose time moves whenever the loop waits, a thread's read too
        self._lookups = Lookups(store.lookup, store.lookup_many) if writer is not None and threads else None
        self._probed: dict[str, str | None] = {}  # content key -> its cached value's hash, looked up ahead
        self._failed: dict[str, str | None] = {}  # content key -> its remembered failure's hash, looked up ahead
        self._replies: dict[tuple[str, str, int], str] = {}  # step -> the replies its row holds, written here

    # --- check ------------------------------------------------------------------------------------
    def recorded(self, item_id: str, node: Node, iteration: int, keys: Keys, status: Status = Status.OK,
                 made_by: Callable[[str], bool] | None = None) -> JournalRow | None:
        """This run's row for the step if it has ``status`` and was recorded for these keys. A row from
        before store schema 4 has no replay key: its content key must match, or be one ``made_by``
        accepts (the key a fallback LM's answer was recorded under)."""
        row = self.rows.get((item_id, node.id, iteration))
        if row is None or row.status != status or node.id in self.force:
            return None
        self._read_ahead(item_id)
        if row.replay_key is not None:
            return row if row.replay_key == keys.replay else None
        made_here = row.content_key == keys.content or (made_by is not None and made_by(row.content_key))
        return row if made_here else None

    def read_rows(self, item_ids: Sequence[str]) -> None:
        """Read these items' rows, READ_CHUNK items per query, unless the journal was given: a resumed
        run's rows are read only for the items replay left (executor.py), not for the finished ones."""
        if self._rows_read:
            return
        for start in range(0, len(item_ids), READ_CHUNK):
            self.rows.update(self.store.journal(self.run_id, item_ids[start:start + READ_CHUNK]))

    def reusable(self, node: Node) -> bool:
        """May the node's output come from (and go to) the cache? Not an OUTPUT, a forced or a
        non-reusable node's."""
        if node.op is Op.OUTPUT or node.id in self.force:
            return False
        return getattr(node.params, "reusable", True)

    async def look_up(self, node: Node, key: str) -> None:
        """Ask the cache for a reusable step's content key (and, for an LM node, its remembered
        failure) off the event loop, for the ``cached`` and ``cached_failure`` calls that follow."""
        if self._lookups is None or not self.reusable(node):
            return
        failed = failure_key(key) if node.op is Op.PREDICT else None
        self._probed[key], failure = await self._lookups.get(key, failed)
        if failed is not None and self._probed[key] is None:
            self._failed[key] = failure

    def cached(self, node: Node, key: str) -> str | None:
        """The hash of the value the cache holds for a reusable node's content key."""
        if not self.reusable(node):
            return None
        return self._probed.pop(key) if key in self._probed else self.store.lookup(key)

    # A reply that never parsed, after every re-ask, is deterministic enough to remember: the store
    # keeps it under failure_key(content key) (see SQLiteStore.record), and a later run replays the
    # failure instead of asking again, unless it allows more re-asks than were made. Transient
    # failures (provider errors, timeouts) and a fallback LM's failures are never remembered.
    def cached_failure(self, node: Node, key: str) -> OutputParseError | None:
        if node.op is not Op.PREDICT or not self.reusable(node):
            return None
        value_hash = self._failed.pop(key) if key in self._failed else self.store.lookup(failure_key(key))
        if value_hash is None:
            return None
        failure = json.loads(self.store.read_value(value_hash)).get("failure") or {}
        if failure.get("parse_retries", -1) < self.parse_retries:
            return None
        return OutputParseError(failure["summary"], **{k: failure.get(k) for k in FAILURE_FIELDS}, from_cache=True)

    def read(self, value_hash: str) -> bytes:
        data = self._values.get(value_hash)
        if data is None:
            return self.store.read_value(value_hash)
        self._takers[value_hash] -= 1
        if self._takers[value_hash] <= 0:
            del self._values[value_hash], self._takers[value_hash]
        return data

    def _read_ahead(self, item_id: str) -> None:
        """On an item's first replayed step, read the values of all its recorded steps in one query
        (not one per step); only the items in flight are held, each value until it is read."""
        if self._unread is None:
            self._unread = {}
            for (item, _, _), row in self.rows.items():
                if row.value_hash is not None and row.status in (Status.OK, Status.PROPOSED):
                    self._unread.setdefault(item, []).append(row.value_hash)
        hashes = self._unread.pop(item_id, None)
        if hashes:
            self._values.update(self.store.read_values(hashes))
            self._takers.update(h for h in hashes if h in self._values)

    # --- run --------------------------------------------------------------------------------------
    def call(self, item_id: str, node: Node, key: str, on_retry: Callable[[NodeCall, BaseException, float], None],
             iteration: int = 0, loop: Node | None = None) -> NodeCall:
        """A PREDICT node's call, going on counting the attempts an earlier process of this run made
        (after a crash, or a resume without reset_attempts), and re-reading the replies it had
        re-asked for: a kill while a node re-asks repeats only the call in flight. Its row: the
        node's, or ``loop``'s (a call in its body), at ``iteration`` (a loop's, a DSPy call's ordinal)."""
        row_node = (loop or node).id
        call = NodeCall(node, item_id, key=key, on_retry=on_retry, on_reask=self.record_attempt, iteration=iteration,
                        journal_node=row_node)
        row = self.rows.get((item_id, row_node, iteration))
        if row is not None and row.status != Status.OK and row.content_key == key and not self.reset_attempts:
            call.prior, call.last_error = row.attempts, row.error
            if row.status == Status.RETRYING and row.value_hash is not None:  # None: no re-ask, or an older plait's row
                replies = json.loads(self.store.read_value(row.value_hash))["replies"]
                call.replies = [Reply.from_json(reply) for reply in replies]
        return call

    def record_attempt(self, call: NodeCall, exc: BaseException) -> None:
        """A failed attempt (an LM error, or a reply that did not parse), journaled before the backoff
        or the re-ask: a crash now does not forget it. Its value: the replies re-asked for so far, and
        the step, which makes it this row's own (deleted when the row moves on: _dropped)."""
        step = (call.item_id, call.journal_node or call.node.id, call.iteration)
        replies = {"step": [self.run_id, *step], "replies": [asdict(r) for r in call.replies]}
        data = json.dumps(replies).encode() if call.replies else None
        row = JournalRow(run_id=self.run_id, item_id=step[0], node_id=step[1], iteration=step[2], content_key=call.key,
                         value_hash=sha256_hex(data) if data else None, status=Status.RETRYING, source=Source.LM,
                         error=str(exc), attempts=call.unrecorded, spent=call.unrecorded_spend)
        self.store.record(row, data, cache=False, item_status=None, owner=self.owner, drop=self._dropped(row))
        if row.value_hash is not None:
            self._replies[step] = row.value_hash
        call.journaled_all()

    # --- record -----------------------------------------------------------------------------------
    def record_ok(self, item_id: str, node: Node, iteration: int, keys: Keys, data: bytes | None, *,
                  source: Source, value_hash: str | None = None, lm: str | None = None,
                  usage: Usage | None = None, attempts: int = 0, cacheable: bool = True,
                  spent: Spend = Spend()) -> str:
        """Record the step's value (``data``, its JSON; None: already stored under ``value_hash``), its
        row, its cache entry (a reusable step's own answer, that no person shaped) and, for an OUTPUT
        node, the item's status, in one transaction. Returns the value's hash."""
        value_hash = sha256_hex(data) if data is not None else value_hash
        row = JournalRow(run_id=self.run_id, item_id=item_id, node_id=node.id, iteration=iteration,
                         content_key=keys.content, value_hash=value_hash, status=Status.OK, source=source, lm=lm,
                         usage=usage.to_json() if usage else None, attempts=attempts, replay_key=keys.replay,
                         spent=spent)
        cache = cacheable and source is not Source.CACHE and self.reusable(node)
        done = "done" if node.op is Op.OUTPUT else None
        self._write(Record(row, data, cache, done, self.owner))
        return value_hash

    def record_proposed(self, item_id: str, node: Node, iteration: int, keys: Keys, data: bytes, *,
                        source: Source, lm: str | None, usage: Usage, attempts: int, spent: Spend = Spend()) -> str:
        """An agent's decision, durable before its tool runs: a crash in the tool does not ask the LM again."""
        row = JournalRow(run_id=self.run_id, item_id=item_id, node_id=node.id, iteration=iteration,
                         content_key=keys.content, value_hash=sha256_hex(data), status=Status.PROPOSED,
                         source=source, lm=lm, usage=usage.to_json(), attempts=attempts, replay_key=keys.replay,
                         spent=spent)
        self._write(Record(row, data, False, None, self.owner))
        return row.value_hash

    def record_failed(self, item_id: str, node: Node, keys: Keys, exc: PlaitError, attempts: int,
                      spent: Spend = Spend()) -> None:
        """A node gave up and its item fails: the error, every raw reply, and (a parse failure of the
        primary LM's, from a reusable node) the failure remembered beside its content key."""
        node_error = exc if isinstance(exc, NodeError) else None
        cached = node_error is not None and node_error.from_cache
        raw = (node_error.raw_attempts or None) if node_error is not None else None
        remember = not cached and self._rememberable(node, exc)
        record = {"raw": raw, **({"failure": failure_record(exc, self.parse_retries)} if remember else {})}
        data = json.dumps(record).encode() if raw else None
        source = Source.CACHE if cached else Source.LM if node.op is Op.PREDICT else Source.STEP
        row = JournalRow(run_id=self.run_id, item_id=item_id, node_id=node.id, content_key=keys.content,
                         value_hash=sha256_hex(data) if data else None, status=Status.FAILED, source=source,
                         error=str(exc), attempts=0 if cached else attempts, replay_key=keys.replay, spent=spent)
        self._write(Record(row, data, remember and data is not None, "failed", self.owner))

    def record_failed_iteration(self, item_id: str, node: Node, iteration: int, exc: PlaitError, *,
                                source: Source, lm: str | None, attempts: int, spent: Spend = Spend()) -> None:
        """A loop iteration that failed its node: the row replays nothing (no keys, no value); it
        keeps the iteration's LM attempts, which budgets count across resumes."""
        row = JournalRow(run_id=self.run_id, item_id=item_id, node_id=node.id, iteration=iteration,
                         status=Status.FAILED, source=source, error=str(exc), lm=lm, attempts=attempts, spent=spent)
        self._write(Record(row, None, False, None, self.owner))

    def record_input_failure(self, item_id: str, input_id: str, error: str) -> None:
        """An item whose input does not validate: failed at its INPUT node, before anything runs."""
        row = JournalRow(run_id=self.run_id, item_id=item_id, node_id=input_id, status=Status.FAILED,
                         source=Source.INPUT, error=error)
        self._write(Record(row, None, False, "failed", self.owner))

    async def committed(self) -> None:
        """Wait until the record just queued (and every one before it) is committed; raises what
        writing it raised (LeaseHeld, StoreError). Nothing to wait for without a writer."""
        queued, self._queued = self._queued, []
        # Not shielded: a cancelled waiter cancels only its future; the writer holds the record, writes
        # it all the same and skips a cancelled future (group.py). One record (the usual case): no gather.
        if len(queued) == 1:
            await queued[0]
        elif queued:
            await asyncio.gather(*queued)

    def _write(self, record: Record) -> None:
        if (drop := self._dropped(record.row)) is not None:
            record = replace(record, drop=drop)
        if self.writer is None:
            self.store.record(record.row, record.value, cache=record.cache, item_status=record.item_status,
                              owner=record.owner, drop=record.drop)
        else:
            self._queued.append(self.writer.submit(record))

    def _dropped(self, row: JournalRow) -> str | None:
        """The value of a node's replies (record_attempt) that ``row`` replaces, to delete with it: no
        other row holds that value (it names its step)."""
        if not self._replies and not self.rows:  # a new run that has re-asked nothing: most records
            return None
        step = (row.item_id, row.node_id, row.iteration)
        held = self._replies.pop(step, None)
        if held is None and (earlier := self.rows.get(step)) is not None and earlier.status == Status.RETRYING:
            held = earlier.value_hash  # an earlier process's
        return held if held != row.value_hash else None

    def _rememberable(self, node: Node, exc: PlaitError) -> bool:
        return (node.op is Op.PREDICT and isinstance(exc, OutputParseError) and exc.fallback_hash is None
                and self.reusable(node))


FAILURE_FIELDS = ("raw", "node", "field", "field_kind", "source", "expected", "found", "fix")


def failure_record(exc: OutputParseError, parse_retries: int) -> dict[str, Any]:
    """What replays a parse failure: its message parts and how many re-asks it was given."""
    data = {k: getattr(exc, k) for k in FAILURE_FIELDS}
    return {**data, "source": str(exc.source) if exc.source else None, "summary": exc.summary,
            "parse_retries": parse_retries}

"""Group commit (plait/checkpoints/group.py), on SQLite and PostgreSQL: the records of the nodes that
finish together are committed in one transaction by the store's writer thread, and a node's event
(and its successors) come only once its record is committed."""

from __future__ import annotations

import asyncio
import threading

import plait
from plait.checkpoints.group import GroupWriter, Record
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status
from plait.hashing import sha256_hex
from plait.ir.nodes import Op
from plait.runtime.journal import Keys, StepJournal
from tests.programs import Chain4

ITEMS = 48
NODES = 5  # four LM nodes and the OUTPUT node record a row each


def count_writer_transactions(store) -> list[int]:
    """A hook on the store: how many transactions its writer thread ran (a one-element list)."""
    counted, transact = [0], store._transact

    def counting(work, **options):
        if threading.current_thread().name == "plait-store-writer":
            counted[0] += 1
        return transact(work, **options)

    store._transact = counting
    return counted


def test_the_nodes_that_finish_together_commit_in_one_transaction(store):
    transactions = count_writer_transactions(store)
    committed_before_event: list[bool] = []

    def on_event(event):
        if isinstance(event, plait.events.NodeFinished):  # its row must be in the store already
            committed_before_event.append((event.item_id, event.node_id, 0) in store.journal(event.run_id))

    lm = plait.ScriptedLM(lambda task: {f: f"{f}:{task.inputs}" for f in task.output_fields})
    items = [{"question": f"q{i}"} for i in range(ITEMS)]
    run = plait.compile(Chain4()).run(items, store=store, lm=lm, concurrency=ITEMS, progress=False,
                                      on_event=on_event)
    assert run.status == "done" and lm.calls == ITEMS * 4
    rows = store.journal(run.id)
    assert len(rows) == ITEMS * NODES and all(r.status is Status.OK for r in rows.values())
    assert len(committed_before_event) == ITEMS * 4 and all(committed_before_event)
    # the items move in step: each wave of nodes finishing in one loop iteration is one transaction
    assert 1 <= transactions[0] <= ITEMS * NODES // 8, f"{transactions[0]} transactions for {len(rows)} records"


def test_one_failing_record_fails_alone_and_the_others_of_its_batch_commit(store):
    store.create_run(RunRecord("r1", store.save_plan("{}"), "running", 1.0, 1.0), [("0", b"{}"), ("1", b"{}")])
    store.acquire_lease("r1", "me", ttl=60.0)

    def record(item: str, owner: str) -> Record:
        data = f'"{item}"'.encode()
        row = JournalRow(run_id="r1", item_id=item, node_id="n", content_key=f"k{item}",
                         value_hash=sha256_hex(data), status=Status.OK, source=Source.LM)
        return Record(row, data, True, None, owner)

    async def both() -> list:
        writer = store.writer()
        futures = [writer.submit(record("0", "me")), writer.submit(record("1", "someone else"))]
        return await asyncio.gather(*futures, return_exceptions=True)

    ok, refused = asyncio.run(both())
    assert ok is None and isinstance(refused, plait.errors.LeaseHeld)
    rows = store.journal("r1")
    assert set(rows) == {("0", "n", 0)} and store.lookup("k0") == rows[("0", "n", 0)].value_hash


def test_a_closed_writer_commits_what_it_was_handed():
    written: list[list[str]] = []
    writer = GroupWriter(lambda records: written.append([r.row.item_id for r in records]), lambda r: None)

    async def submit() -> None:
        rows = [JournalRow(run_id="r", item_id=str(i), node_id="n", status=Status.OK, source=Source.LM)
                for i in range(3)]
        futures = [writer.submit(Record(row, None, False, None)) for row in rows]
        await asyncio.gather(*futures)

    asyncio.run(submit())
    writer.close()
    assert written == [["0", "1", "2"]] and writer.transactions == 1


def test_a_cancelled_waiter_does_not_cancel_its_record(store):
    """committed() awaits its record's future unshielded: cancelling the waiting node cancels the future
    only, and the writer still commits the record it holds."""
    store.create_run(RunRecord("r1", store.save_plan("{}"), "running", 1.0, 1.0), [("0", b"{}")])
    node = plait.compile(Chain4()).plan.of_op(Op.PREDICT)[0]
    steps = StepJournal(store, "r1", writer=store.writer())

    async def cancelled() -> bool:
        steps.record_ok("0", node, 0, Keys("k-cancelled", "replay"), b'"x"', source=Source.LM)
        waiter = asyncio.ensure_future(steps.committed())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        return waiter.cancelled()

    assert asyncio.run(cancelled())
    store.writer().close()
    assert store.journal("r1")[("0", node.id, 0)].status is Status.OK and store.lookup("k-cancelled") is not None

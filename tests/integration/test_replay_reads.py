"""Replay of a finished run: no LM call, each item's recorded values read in one query (not one per
node; a batch of items at a time), and the event loop keeps running other tasks (timers, lease
heartbeats) during a long replay."""

from __future__ import annotations

import asyncio
from collections import Counter

import plait
from plait.runtime import journal as journal_module
from plait.runtime.replay import BATCH
from tests.programs import Chain4
from tests.stores import execute

ITEMS = 300


def answer(task):
    return {f: f"{f}:{task.inputs}" for f in task.output_fields}


def finished_run(store):
    run = plait.compile(Chain4()).run([{"question": f"q{i}"} for i in range(ITEMS)], store=store,
                                      lm=plait.ScriptedLM(answer), concurrency=32, progress=False)
    assert run.status == "done"
    return run


def test_a_long_replay_makes_no_call_reads_per_item_and_lets_timers_fire(store):
    first = finished_run(store)
    reads: list[int] = []  # how many values each query of the replay read
    read_values, read_value, replay_rows = store.read_values, store.read_value, store.replay_rows
    store.read_values = lambda hashes: reads.append(len(hashes)) or read_values(hashes)
    store.read_value = lambda value_hash: reads.append(1) or read_value(value_hash)

    def joined(run_id, item_ids):  # a batch's rows with their values (Store.replay_rows): one query
        rows = replay_rows(run_id, item_ids)
        reads.append(sum(len(by_node) for by_node in rows.values()))
        return rows

    store.replay_rows = joined
    replayed, seen_by_timer = [0], []

    def on_event(event):
        if isinstance(event, plait.events.NodeFinished) and event.source == "replay":
            replayed[0] += 1

    async def timer():
        while True:
            await asyncio.sleep(0.0005)
            seen_by_timer.append(replayed[0])

    async def resume():
        ticking = asyncio.create_task(timer())
        lm = plait.ScriptedLM(answer)
        try:
            return await plait.aresume(first.id, store=store, lm=lm, progress=False, on_event=on_event), lm
        finally:
            ticking.cancel()

    run, lm = asyncio.run(resume())
    reads_in_replay = list(reads)
    assert run.status == "done" and lm.calls == 0 and replayed[0] == ITEMS * 4
    assert [r.outputs for r in run.items] == [r.outputs for r in first.items]
    # one query for the items' inputs, then one per batch of items: their four nodes' values and their
    # outputs (never one per node; plait/runtime/replay.py)
    batches = [min(BATCH, ITEMS - start) for start in range(0, ITEMS, BATCH)]
    assert reads_in_replay == [ITEMS] + [5 * n for n in batches]
    during = [n for n in seen_by_timer if 0 < n < ITEMS * 4]
    assert during, f"the timer fired only before or after the replay: {seen_by_timer}"


def test_a_resume_reads_journal_rows_only_for_the_items_replay_leaves(store, monkeypatch):
    first = finished_run(store)
    # item 7 lost its third node's row, item 250 its OUTPUT row: both go the normal way, the rest replay
    execute(store, "DELETE FROM journal WHERE run_no = (SELECT run_no FROM runs WHERE run_id = ?) AND item_id = '7' AND node_id = 'chain4.n3'", first.id)
    execute(store, "DELETE FROM journal WHERE run_no = (SELECT run_no FROM runs WHERE run_id = ?) AND item_id = '250' AND node_id = 'outputs'", first.id)
    monkeypatch.setattr(journal_module, "READ_CHUNK", 1)  # one query per left item: the chunks join up
    asked: list[list[str] | None] = []
    journal = store.journal
    store.journal = lambda run_id, item_ids=None: asked.append(item_ids and list(item_ids)) or journal(run_id, item_ids)
    events: list = []
    lm = plait.ScriptedLM(answer)
    run = plait.resume(first.id, store=store, lm=lm, progress=False, on_event=events.append)
    assert asked == [["7"], ["250"]]  # never the whole journal: the finished items replayed from the join
    assert run.status == "done" and lm.calls == 0  # n3 of item 7 is found in the cache
    assert [r.outputs for r in run.items] == [r.outputs for r in first.items]
    started = next(e for e in events if isinstance(e, plait.events.RunStarted))
    assert (started.resumed, started.node_runs, started.recorded) == (True, ITEMS * 4, ITEMS * 4 - 1)
    sources = Counter(e.source for e in events if isinstance(e, plait.events.NodeFinished))
    assert sources == {"replay": ITEMS * 4 - 1, "cache": 1}

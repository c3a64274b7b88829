"""``plait.open_run``: a stored run as a read-only :class:`Run`, for looking at, never for running.

Nothing here takes a lease, changes a status or calls an LM: the items, outputs and errors are
read from the store as the run recorded them, and the counts are folded from its journal rows
through the same consumers (RunStats, NodeTally) a live run's events feed."""

from __future__ import annotations

import json
from typing import Any, Iterator

from plait.api.results import ItemResult, Run, RunStats
from plait.checkpoints.codec import codec_for
from plait.checkpoints.lease import is_active
from plait.checkpoints.protocol import ItemRecord, JournalRow, Store
from plait.checkpoints.stores import using_store
from plait.errors import StoreError
from plait.ir.nodes import Op
from plait.ir.plan import Plan
from plait.ir.serialize import plan_from_json
from plait.pipeline.prediction import Prediction
from plait.runtime import events as ev
from plait.runtime.executor import value_fields
from plait.runtime.tally import NodeTally

# Where a recorded row's value came from, in the words of a live run's NodeFinished events.
_EVENT_SOURCE = {"lm": "lm", "step": "step", "human": "human", "cache": "cache", "journal": "replay"}


def open_run(run_id: str, *, store: Any = None) -> Run:
    """Open a stored run read-only: its items, outputs, failures, stats and displays, as recorded.

    Unlike :func:`plait.resume`, it takes no lease (a run another process is running opens too),
    changes nothing in the store and never calls an LM; ``run.read_only`` is True. Its plan's
    steps and types are imported to rebuild the outputs.

    Example::

        run = plait.open_run("20261124-011635-3f9a2c", store="runs.db")
        run.outputs, run.failed, run.stats.lm_calls, run.to_pandas()
    """
    with using_store(store, create=False) as opened:
        return _open(opened, run_id)


def _open(store: Store, run_id: str) -> Run:
    record = store.get_run(run_id)  # RunNotFound names the store and the fix
    plan = plan_from_json(json.loads(store.load_plan(record.plan_hash)), f"the plan of run {run_id}")
    journal = store.journal(run_id)
    questions = {q.item_id: q for q in store.asks(run_id, unanswered=True)}
    items = [_item(store, plan, journal, i, questions.get(i.item_id)) for i in store.run_items(run_id)]
    stats, tally = RunStats(), NodeTally()
    for event in journal_events(run_id, journal):
        stats(event)
        tally(event)
    status = record.status
    if status == "running" and not is_active(store.lease(run_id)):
        status = "interrupted"  # its process is gone: `plait resume` goes on with it
    return Run(run_id, getattr(store, "path", None), status, items, stats, plan=plan, tally=tally, read_only=True)


def _item(store: Store, plan: Plan, journal: dict, record: ItemRecord, question: Any) -> ItemResult:
    status = record.status if record.status in ("done", "failed", "waiting") else "interrupted"
    if status != "done":
        return ItemResult(record.item_id, status, None, record.error, question=question)
    output = plan.of_op(Op.OUTPUT)[0]
    row = journal.get((record.item_id, output.id, 0))
    if row is None or row.value_hash is None:
        return ItemResult(record.item_id, "done", None, "the store holds no outputs for this item")
    try:
        values = codec_for(value_fields(output)).decode(store.read_value(row.value_hash),
                                                        f"the outputs of item {record.item_id}")
    except StoreError as exc:  # one item's unreadable outputs never hide the others
        return ItemResult(record.item_id, "failed", None, str(exc), exc)
    return ItemResult(record.item_id, "done", Prediction(values))


def journal_events(run_id: str, journal: dict[tuple[str, str, int], JournalRow]) -> Iterator[ev.Event]:
    """The events that recorded these rows, as a live run emitted them (one LMCalled per attempt)."""
    for (item_id, node_id, _), row in sorted(journal.items()):
        if row.source == "lm":
            for attempt in range(row.attempts):
                answered = row.status == "ok" and attempt == row.attempts - 1
                yield ev.LMCalled(run_id, item_id, node_id, row.lm or "", answered)
        if row.status == "ok" and row.source in _EVENT_SOURCE:
            yield ev.NodeFinished(run_id, item_id, node_id, _EVENT_SOURCE[row.source], usage=row.usage)
        elif row.status == "failed":
            yield ev.NodeFailed(run_id, item_id, node_id, row.error or "")

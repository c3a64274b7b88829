"""Named runs: a job that names its runs (``run(data, name="nightly")``) goes on with the latest
run of that name instead of adding a new one, when it is the same work: the same plan over the
same items. An unfinished one resumes; a finished one replays with no LM call. Other work (an
edited pipeline, other items) starts a new run under the name, and ``plait gc --superseded``
(plait/cli/gc.py) deletes the older ones. Unnamed, with ``resume_unfinished`` (what optimizers
pass for their evaluations), a run goes on with the same work that a kill cut short, if any."""

from __future__ import annotations

import json

from plait.checkpoints.lease import is_active
from plait.checkpoints.protocol import RunRecord, Store
from plait.hashing import sha256_hex
from plait.ir.plan import Plan
from plait.ir.serialize import plan_to_json


def latest_named(store: Store, name: str) -> RunRecord | None:
    """The most recent run recorded under ``name``."""
    named = [r for r in store.list_runs() if r.config.get("name") == name]
    return named[-1] if named else None


def same_work(store: Store, name: str, plan: Plan, items: list[tuple[str, bytes]]) -> str | None:
    """The id of the latest run named ``name`` if it ran ``plan`` over exactly ``items`` (ids and
    inputs, in order), else None."""
    record = latest_named(store, name)
    return record.run_id if record is not None and _ran(store, record, plan, items) else None


def unfinished_work(store: Store, plan: Plan, items: list[tuple[str, bytes]], lms: dict[str, str]) -> str | None:
    """The id of the latest run of ``plan`` over exactly ``items`` whose config records the LMs
    ``lms`` (each LM node's identity hash, ``lm_identities``: a run's recorded answers replay whichever LM gave them,
    so only the same LMs may go on with one) that a kill cut short (left running or interrupted, and
    no live process holds it), else None: an optimizer's evaluation goes on with it, so that a
    killed search repeats only the LM calls in flight (its nodes' re-asks included)."""
    for record in reversed(store.list_runs()):
        if (record.status in ("running", "interrupted") and record.config.get("lm_identities") == lms
                and not is_active(store.lease(record.run_id)) and _ran(store, record, plan, items)):
            return record.run_id
    return None


def _ran(store: Store, record: RunRecord, plan: Plan, items: list[tuple[str, bytes]]) -> bool:
    if record.plan_hash != sha256_hex(json.dumps(plan_to_json(plan), sort_keys=True)):
        return False
    stored = [(i.item_id, i.input_hash) for i in sorted(store.run_items(record.run_id), key=lambda i: i.position)]
    return stored == [(item_id, sha256_hex(data)) for item_id, data in items]

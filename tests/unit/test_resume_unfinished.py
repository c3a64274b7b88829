"""``resume_unfinished`` (what optimizers pass for their evaluations): a new run of the same plan
over the same items with the same LMs goes on with the run a kill cut short, so that its journal
(a node's re-asks included) replays, instead of starting the work over (plait/api/named.py)."""

from __future__ import annotations

import functools

import plait
from plait.checkpoints.sqlite import SQLiteStore
from tests.unit.test_reask_journal import ITEM, RUN_OPTIONS, Ask, ReAsked, killed


def killed_evaluation(store: str, lm: ReAsked) -> str:
    """An optimizer's evaluation (a run with ``resume_unfinished``) killed during ``lm``'s call in flight."""
    return killed(store, lm, start=functools.partial(plait.compile(Ask()).arun, resume_unfinished=True))


def runs(store: str) -> list:
    opened = SQLiteStore(store)
    try:
        return opened.list_runs()
    finally:
        opened.close()


def test_a_run_goes_on_with_the_same_work_a_kill_cut_short(tmp_path):
    store = str(tmp_path / "runs.db")
    run_id = killed_evaluation(store, ReAsked(1, hang_at=2))
    again = ReAsked(1)
    run = plait.compile(Ask()).run([ITEM], store=store, lm=again, resume_unfinished=True, **RUN_OPTIONS)
    assert run.id == run_id and run.status == "done" and again.calls == 1  # the re-ask in flight only
    finished = plait.compile(Ask()).run([ITEM], store=store, lm=again, resume_unfinished=True, **RUN_OPTIONS)
    assert finished.id != run_id and again.calls == 1  # a finished run is not gone on with: a new one, cached


def test_other_work_other_lms_or_a_live_holder_start_a_new_run(tmp_path):
    store = str(tmp_path / "runs.db")
    run_id = killed_evaluation(store, ReAsked(1, hang_at=2))
    other_item = plait.compile(Ask()).run([{"question": "brick"}], store=store, lm=ReAsked(0), resume_unfinished=True)
    another = plait.ScriptedLM(lambda task: {"answer": "x"}, name="another")
    other_lm = plait.compile(Ask()).run([ITEM], store=store, lm=another, resume_unfinished=True)
    opened = SQLiteStore(store)
    try:
        opened.acquire_lease(run_id, "a live process", ttl=60.0)  # this process: alive
    finally:
        opened.close()
    held = plait.compile(Ask()).run([ITEM], store=store, lm=ReAsked(1), resume_unfinished=True, **RUN_OPTIONS)
    assert run_id not in (other_item.id, other_lm.id, held.id)
    assert [r.status for r in runs(store) if r.run_id == run_id] == ["interrupted"]  # as the kill left it
    without = plait.compile(Ask()).run([ITEM], store=store, lm=ReAsked(1), **RUN_OPTIONS)
    assert without.id != run_id  # an ordinary run starts anew


def test_an_lm_that_differs_only_in_its_identity_starts_a_new_run(tmp_path):
    """Same name and settings, another version: the run's config tells them apart by identity hash,
    so the killed run's recorded replies are not replayed as the other LM's."""
    store = str(tmp_path / "runs.db")
    run_id = killed_evaluation(store, ReAsked(1, hang_at=2))
    newer = ReAsked(1)
    newer.version = "2"
    run = plait.compile(Ask()).run([ITEM], store=store, lm=newer, resume_unfinished=True, **RUN_OPTIONS)
    assert run.id != run_id and run.status == "done" and newer.calls == 2  # asked afresh: reply, re-ask
    same = ReAsked(1)
    resumed = plait.compile(Ask()).run([ITEM], store=store, lm=same, resume_unfinished=True, **RUN_OPTIONS)
    assert resumed.id == run_id and same.calls == 1

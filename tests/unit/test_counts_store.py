"""The journal keeps what every step spent (checkpoints/spend.py), on every store: rows of one
step add up, a fork's copied rows spent nothing, a copied run keeps its spend, and stores written
before the spend columns are migrated in place with their rows filled from what they kept."""

from __future__ import annotations

import sqlite3

import pytest

from plait.checkpoints import postgres_schema, sqlite_schema
from plait.checkpoints.location import open_location
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status
from plait.checkpoints.spend import Spend, total_spend
from plait.checkpoints.sqlite import SQLiteStore
from plait.checkpoints.transfer import copy_runs
from tests.stores import execute


def _run(store, run_id="r1"):
    store.create_run(RunRecord(run_id, store.save_plan("{}"), "running", 1.0, 1.0), [("0", b'{"q":1}')])


def _row(status, spent, value_hash=None, run_id="r1"):
    return JournalRow(run_id=run_id, item_id="0", node_id="n", content_key="k", value_hash=value_hash, status=status,
                      source=Source.LM, attempts=spent.requests, spent=spent)


def test_the_rows_of_one_step_add_up_their_spend(store):
    _run(store)
    store.record(_row(Status.RETRYING, Spend(requests=2)), None, cache=False, item_status=None)
    store.record(_row(Status.RETRYING, Spend.reply(7, 3, None)), None, cache=False, item_status=None)
    store.record(_row(Status.OK, Spend.reply(7, 4, 0.25), "v"), b"{}", cache=False, item_status=None)
    row = store.journal("r1")[("0", "n", 0)]
    assert row.spent == Spend(4, 2, 14, 7, 0.25) and row.attempts == 4
    store.record(_row(Status.OK, Spend.reply(1, 1, 1.0), "v"), b"{}", cache=False, item_status=None)
    assert store.journal("r1")[("0", "n", 0)].spent == Spend(4, 2, 14, 7, 0.25)  # an ok row is final
    assert store.spending() == {"r1": Spend(4, 2, 14, 7, 0.25)}


def test_the_journal_summary_sums_the_rows_the_run_holds(store):
    _run(store)
    _run(store, "r2")
    store.record(_row(Status.OK, Spend.reply(7, 4, 0.25), "v"), b"{}", cache=False, item_status=None)
    other = JournalRow(run_id="r1", item_id="0", node_id="m", content_key="k2", status=Status.FAILED,
                       source=Source.LM, attempts=3, spent=Spend(requests=3))
    store.record(other, None, cache=False, item_status=None)
    store.record(_row(Status.OK, Spend.reply(1, 1, None), "v", run_id="r2"), b"{}", cache=False, item_status=None)
    groups = sorted(store.journal_summary("r1"), key=lambda g: g[1])
    assert [(g[0], g[1], g[2], g[3]) for g in groups] == [("lm", "failed", True, 1), ("lm", "ok", True, 1)]
    assert total_spend(store.journal("r1").values()) == Spend(4, 1, 7, 4, 0.25)
    assert [g[4] for g in groups] == [Spend(requests=3), Spend(1, 1, 7, 4, 0.25)]


def test_a_cost_stays_unknown_until_a_provider_reports_one(store):
    _run(store)
    store.record(_row(Status.RETRYING, Spend(requests=1)), None, cache=False, item_status=None)
    assert store.journal("r1")[("0", "n", 0)].spent.cost is None and store.spending()["r1"].cost is None


def test_a_fork_copies_the_rows_but_not_their_spend_and_a_copied_run_keeps_it(store, new_store_url):
    _run(store)
    store.record(_row(Status.OK, Spend(3, 2, 10, 5, 0.5), "v"), b"{}", cache=False, item_status=None)
    _run(store, "fork")
    assert store.copy_journal("r1", "fork", {"n"}) == 1
    assert store.journal("fork")[("0", "n", 0)].spent == Spend()
    other = open_location(new_store_url())
    try:
        copy_runs(store, other, ["r1"])
        assert total_spend(other.journal("r1").values()) == Spend(3, 2, 10, 5, 0.5)
    finally:
        other.close()


def test_a_schema_4_sqlite_store_gets_the_spend_of_its_old_rows(tmp_path):
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    for stmt in sqlite_schema.statements(sqlite_schema._V1) + [
            s for v in (1, 2, 3) for s in sqlite_schema.statements(sqlite_schema.MIGRATIONS[v])]:
        conn.execute(stmt)
    conn.executescript("""
        INSERT INTO meta VALUES ('app', 'plait'), ('schema_version', '4');
        INSERT INTO runs VALUES ('r1', 'p1', NULL, 'done', 1.0, 2.0, '{}');
        INSERT INTO journal VALUES ('r1', '0', 'a', 0, 'k1', 'b1', 'ok', 'lm', NULL, 'm',
            '{"prompt_tokens": 30, "completion_tokens": 6, "cost": 0.5}', 2, 1.0, NULL);
        INSERT INTO journal VALUES ('r1', '0', 'b', 0, 'k2', NULL, 'failed', 'lm', 'no', NULL, NULL, 3, 1.0, NULL);
        INSERT INTO journal VALUES ('r1', '0', 'c', 0, 'k3', 'b2', 'ok', 'step', NULL, NULL, NULL, 1, 1.0, NULL);
    """)
    conn.close()
    store = SQLiteStore(path)
    journal = store.journal("r1")
    assert journal[("0", "a", 0)].spent == Spend(2, 2, 30, 6, 0.5)
    assert journal[("0", "b", 0)].spent == Spend(3, 0, 0, 0, None)  # its replies were not kept
    assert journal[("0", "c", 0)].spent == Spend()  # a step calls no LM
    store.close()


@pytest.mark.postgres
def test_a_version_1_postgres_store_gets_the_spend_of_its_old_rows(pg_url, monkeypatch):
    with monkeypatch.context() as old:
        old.setattr(postgres_schema, "SCHEMA_VERSION", 1)  # the plait before the spend columns
        old.setattr(postgres_schema, "MIGRATIONS", {})
        store = open_location(pg_url)
        execute(store, "INSERT INTO runs VALUES ('r1', ?, NULL, 'running', 1.0, 1.0, '{}')", store.save_plan("{}"))
        execute(store, "INSERT INTO journal (run_id, item_id, node_id, iteration, content_key, value_hash, status,"
                       " source, error, lm, usage, attempts, recorded_at) VALUES ('r1', '0', 'a', 0, 'k1', 'b1',"
                       " 'ok', 'lm', NULL, 'm', '{\"prompt_tokens\": 30, \"completion_tokens\": 6, \"cost\": 0.5}',"
                       " 2, 1.0)")
        store.close()
    store = open_location(pg_url)
    assert execute(store, "SELECT value FROM meta WHERE key='schema_version'") == [
        (str(postgres_schema.SCHEMA_VERSION),)]
    assert store.journal("r1")[("0", "a", 0)].spent == Spend(2, 2, 30, 6, 0.5)
    store.close()


def test_a_key_costs_what_the_row_that_computed_it_spent(store):
    _run(store)
    store.record(_row(Status.FAILED, Spend(3, 3, 9, 3, None)), None, cache=False, item_status=None)
    _run(store, "r2")
    reused = JournalRow(run_id="r2", item_id="0", node_id="n", content_key="k", status=Status.FAILED,
                        source=Source.CACHE, attempts=0)
    store.record(reused, None, cache=False, item_status=None)
    assert store.journal("r2")[("0", "n", 0)].spent == Spend()
    assert store.key_requests(["k", "unknown"]) == {"k": 3}

"""The asks table: a store from before it (schema 2) is migrated in place; a question is recorded
once and answered once; the lease guards asking, not answering; gc deletes a run's questions.
All but the migration run against every store (tests/stores.py)."""

import sqlite3

import pytest

import plait
from plait.checkpoints import sqlite_schema
from plait.checkpoints.asks import Question
from plait.checkpoints.location import open_location
from plait.checkpoints.protocol import RunRecord
from plait.checkpoints.sqlite import SQLiteStore
from tests.stores import execute
from tests.unit.test_store_files import V1_SCHEMA


def _question(run_id="r1", item="0", index=0, **kwargs):
    return Question(run_id, item, "p.review", 0, index, "Ship?", {"draft": "x"}, [["answer", {"builtin": "bool"}]],
                    asked_at=1.0, **kwargs)


def _store_with_run(location, run_id="r1"):
    store = open_location(location)
    store.create_run(RunRecord(run_id, store.save_plan("{}"), "running", 1.0, 1.0), [("0", b"{}"), ("1", b"{}")])
    return store


def test_a_version_2_store_is_migrated_and_keeps_its_runs(tmp_path):
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.executescript(sqlite_schema.MIGRATIONS[1] + "; UPDATE meta SET value='2' WHERE key='schema_version';")
    conn.execute("INSERT INTO leases VALUES ('r1', 'someone', 'host', 1, 1.0, 2.0)")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    assert store._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("8",)
    assert store.get_run("r1").status == "done" and store.lease("r1").owner == "someone"
    assert store.asks("r1") == []
    store.record_ask(_question())
    assert store.asks("r1")[0].question == "Ship?" and store.run_items("r1")[0].status == "waiting"
    store.close()


def test_a_question_is_recorded_once_and_answered_once(store_url):
    store = _store_with_run(store_url)
    store.record_ask(_question())
    store.record_ask(_question())  # a repeat changes nothing
    assert len(store.asks("r1")) == 1
    first = store.answer_ask(("r1", "0", "p.review", 0, 0), {"answer": True}, "human")
    second = store.answer_ask(("r1", "0", "p.review", 0, 0), {"answer": False}, "default")
    assert first.answer == second.answer == {"answer": True} and second.answered_by == "human"
    assert store.asks("r1", unanswered=True) == []
    assert store.answer_ask(("r1", "0", "p.review", 0, 7), {"answer": True}, "human") is None


def test_an_item_with_two_open_questions_stays_waiting_until_both_are_answered(store_url):
    store = _store_with_run(store_url)
    store.record_ask(_question(index=0))
    store.record_ask(_question(index=1))
    store.answer_ask(("r1", "0", "p.review", 0, 0), {"answer": True}, "human")
    assert store.run_items("r1")[0].status == "waiting"
    store.answer_ask(("r1", "0", "p.review", 0, 1), {"answer": True}, "human")
    assert store.run_items("r1")[0].status == "pending"


def test_asking_needs_the_lease_answering_does_not(store_url):
    store = _store_with_run(store_url)
    store.acquire_lease("r1", "runner", ttl=60)
    with pytest.raises(plait.LeaseHeld):
        store.record_ask(_question(), owner="someone else")
    store.record_ask(_question(), owner="runner")
    other = open_location(store_url)  # another process, while the run is live
    assert other.answer_ask(("r1", "0", "p.review", 0, 0), {"answer": True}, "human").answer == {"answer": True}


def test_gc_deletes_a_runs_questions(store_url):
    store = _store_with_run(store_url)
    store.record_ask(_question())
    store.collect_garbage(["r1"])
    assert execute(store, "SELECT COUNT(*) FROM asks") == [(0,)]

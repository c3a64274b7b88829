"""The store contract, run against every store (the ``store`` fixture: SQLite and PostgreSQL, see
tests/stores.py); and clear errors for SQLite files that are not usable."""

import base64
import os
import random
import sqlite3
import subprocess
import sys
import time

from dataclasses import replace

import pytest

import plait
from plait.checkpoints.layout import key_bytes
from plait.checkpoints.location import open_location
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status
from plait.checkpoints.spend import Spend
from plait.checkpoints.sqlite import SQLiteStore
from plait.hashing import sha256_hex
from tests.stores import execute


def _row(status="ok", value_hash="h1", key="k1"):
    return JournalRow(run_id="r1", item_id="0", node_id="n", content_key=key, value_hash=value_hash,
                      status=Status(status), source=Source.LM)


def _run(store):
    store.create_run(RunRecord("r1", store.save_plan("{}"), "running", 1.0, 1.0), [("0", b'{"q":1}')])


def test_record_then_journal_and_cache(store):
    _run(store)
    store.record(_row(), b'{"a":1}', cache=True, item_status=None)
    assert store.journal("r1")[("0", "n", 0)].value_hash == "h1"
    assert store.lookup("k1") == "h1"


def test_many_cache_keys_are_looked_up_in_one_call_as_one_by_one(store):
    _run(store)
    digest = "ab" * 32
    for key, value_hash in (("k1", "h1"), (digest, "cd" * 32), (f"{digest}:failed", "h3")):
        store.record(_row(key=key, value_hash=value_hash), b"1", cache=True, item_status=None)
    keys = ["k1", digest, f"{digest}:failed", "missing", "AB" * 32]
    found = store.lookup_many(keys)
    assert found == {k: store.lookup(k) for k in keys if store.lookup(k) is not None}
    assert found == {"k1": "h1", digest: "cd" * 32, f"{digest}:failed": "h3"} and store.lookup_many([]) == {}


def test_an_ok_row_is_never_overwritten(store):
    _run(store)
    store.record(_row(value_hash="h1"), b"1", cache=False, item_status=None)
    store.record(_row(value_hash="h2"), b"2", cache=False, item_status=None)
    assert store.journal("r1")[("0", "n", 0)].value_hash == "h1"


def test_a_failed_row_is_replaced_by_a_later_success(store):
    _run(store)
    store.record(_row(status="failed", value_hash=None), None, cache=False, item_status="failed")
    store.record(_row(), b"1", cache=True, item_status="done")
    row = store.journal("r1")[("0", "n", 0)]
    assert row.status == "ok" and row.attempts == 2
    assert store.run_items("r1")[0].status == "done"


def test_a_retrying_rows_value_is_replaced_as_its_attempts_and_spend_add_up(store):
    """A node's re-asks (runtime/journal.py): each 'retrying' row holds the replies so far as its
    value; the store keeps the latest, adds the attempts and spend, and the final row replaces it.
    Each record drops (deletes) the value the row held before it, in the same transaction."""
    _run(store)
    held = None
    for n, value in enumerate((b'{"replies": [1]}', b'{"replies": [1, 2]}'), start=1):
        retrying = replace(_row("retrying", value_hash=sha256_hex(value), key="k"), spent=Spend.reply(10, n, 0.5))
        store.record(retrying, value, cache=False, item_status=None, drop=held)
        row = store.journal("r1")[("0", "n", 0)]
        assert (row.status, row.value_hash, row.attempts, row.spent.requests) == ("retrying", sha256_hex(value), n, n)
        assert store.read_value(row.value_hash) == value
        assert execute(store, "SELECT COUNT(*) FROM blobs") == [(2,)]  # the input, and the replies
        held = row.value_hash
    store.record(replace(_row(key="k"), spent=Spend.reply(10, 3, 0.5)), b'{"a": 1}', cache=True, item_status=None,
                 drop=held)
    row = store.journal("r1")[("0", "n", 0)]
    assert (row.status, row.value_hash, row.attempts) == ("ok", "h1", 3) and store.lookup("k") == "h1"
    assert row.spent == Spend(3, 3, 30, 6, 1.5)
    assert execute(store, "SELECT COUNT(*) FROM blobs") == [(2,)]  # the input, and the value


def test_the_replay_key_is_kept_and_copied_to_a_fork(store):
    _run(store)
    store.record(JournalRow(run_id="r1", item_id="0", node_id="n", content_key="k1", value_hash="h1", status=Status.OK,
                            source=Source.LM, replay_key="r-key"), b"1", cache=True, item_status=None)
    store.record(JournalRow(run_id="r1", item_id="0", node_id="m", content_key="k2", value_hash="h2", status=Status.OK,
                            source=Source.LM), b"2", cache=True, item_status=None)
    store.create_run(RunRecord("r2", store.save_plan("{}"), "running", 1.0, 1.0, "r1"), [("0", b'{"q":1}')])
    assert store.copy_journal("r1", "r2", {"n", "m"}) == 2
    for run in ("r1", "r2"):
        journal = store.journal(run)
        assert journal[("0", "n", 0)].replay_key == "r-key" and journal[("0", "m", 0)].replay_key is None
        assert journal[("0", "n", 0)].content_key == "k1"  # the cache's key stays beside it


def test_the_journal_of_some_items_only(store):
    store.create_run(RunRecord("r1", store.save_plan("{}"), "running", 1.0, 1.0),
                     [("0", b'{"q":0}'), ("1", b'{"q":1}'), ("2", b'{"q":2}')])
    for item in ("0", "1", "2"):
        store.record(JournalRow(run_id="r1", item_id=item, node_id="n", content_key=f"k{item}", value_hash=None,
                                status=Status.FAILED, source=Source.LM), None, cache=False,
                     item_status=None)
    assert sorted(store.journal("r1", ["0", "2"])) == [("0", "n", 0), ("2", "n", 0)]
    assert store.journal("r1", []) == {} and len(store.journal("r1")) == 3


def test_nan_infinities_and_lone_surrogates_round_trip_through_the_store(store):
    from plait.checkpoints.codec import codec_for
    from plait.hashing import sha256_hex
    from plait.ir.nodes import Field

    codec = codec_for((Field("x", list[float]), Field("s", str)))
    data = codec.encode({"x": [float("nan"), float("inf"), float("-inf"), -0.0], "s": "a\ud800b\x00"})
    assert b"NaN" in data and b"\\ud800" in data  # the codec's constants and escape, as bytes
    _run(store)
    store.record(_row(value_hash=sha256_hex(data)), data, cache=True, item_status=None)
    back = store.read_value(store.lookup("k1"))
    assert back == data
    decoded = codec.decode(back)
    assert str(decoded["x"]) == "[nan, inf, -inf, -0.0]" and decoded["s"] == "a\ud800b\x00"


def test_values_are_checked_against_their_hash(store, tmp_path):
    from plait.hashing import sha256_hex

    _run(store)
    good = sha256_hex(b"1")
    store.record(_row(value_hash=good), b"1", cache=True, item_status=None)
    assert store.read_value(good) == b"1"
    execute(store, "UPDATE blobs SET data=? WHERE hash=?", b"2", key_bytes(good))  # schema 7: hashes as bytes
    with pytest.raises(plait.StoreError, match="does not match its hash"):
        store.read_value(good)


def test_unknown_run_is_explained(store):
    with pytest.raises(plait.RunNotFound, match="no run 'nope'"):
        store.get_run("nope")


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(plait.StoreError) as err:
        SQLiteStore(path)
    assert "cannot open the checkpoint store" in str(err.value) and "fix:" in str(err.value)


def test_another_apps_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(plait.StoreError, match="is an SQLite database but not a plait store"):
        SQLiteStore(path)


def test_a_newer_schema_is_refused(store, store_url):
    execute(store, "UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(plait.StoreError) as err:
        open_location(store_url)
    assert "written by a newer plait (store schema 99)" in str(err.value)


def test_the_store_uses_wal(tmp_path):
    s = SQLiteStore(tmp_path / "w.db")
    assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- leases: one process runs a run at a time --------------------------------------------------
def test_a_live_lease_refuses_another_owner_and_names_the_holder(store):
    from plait.checkpoints.lease import LeaseHeld

    store.acquire_lease("r1", "a", ttl=60)
    store.acquire_lease("r1", "a", ttl=60)  # the holder may take it again
    with pytest.raises(LeaseHeld) as err:
        store.acquire_lease("r1", "b", ttl=60)
    message = str(err.value)
    assert isinstance(err.value, plait.StoreError)
    assert f"pid {os.getpid()}" in message and "retry after its lease expires at" in message
    store.acquire_lease("r2", "b", ttl=60)  # other runs are unaffected
    store.release_lease("r1", "b")  # not the holder: no effect
    assert store.lease("r1").owner == "a"
    store.release_lease("r1", "a")
    assert store.lease("r1") is None
    store.acquire_lease("r1", "b", ttl=60)


def test_an_expired_lease_is_taken_over_and_its_old_holder_has_lost_it(store):
    from plait.checkpoints.lease import LeaseHeld

    store.acquire_lease("r1", "a", ttl=-1)  # already expired: its holder died (or froze)
    store.renew_lease("r1", "a", ttl=-1)  # an expired lease nobody took is still its holder's
    store.acquire_lease("r1", "b", ttl=60)
    since = store.lease("r1").acquired_at
    store.renew_lease("r1", "b", ttl=120)
    lease = store.lease("r1")
    assert lease.owner == "b" and lease.acquired_at == since and lease.live(lease.expires_at - 1)
    with pytest.raises(LeaseHeld) as err:
        store.renew_lease("r1", "a", ttl=60)  # the old holder wakes up: it lost the run
    assert err.value.lost and "this process lost run r1 to another process" in str(err.value)
    store.release_lease("r1", "b")
    with pytest.raises(plait.StoreError, match="its lease is gone"):
        store.renew_lease("r1", "b", ttl=60)


def test_record_with_an_owner_writes_only_for_the_lease_holder(store):
    from plait.checkpoints.lease import LeaseHeld

    _run(store)
    store.acquire_lease("r1", "a", ttl=-1)
    store.acquire_lease("r1", "b", ttl=60)  # took over the expired lease
    with pytest.raises(LeaseHeld):
        store.record(_row(), b"1", cache=True, item_status="done", owner="a")
    assert store.journal("r1") == {} and store.lookup("k1") is None  # nothing of it was written
    store.record(_row(), b"1", cache=True, item_status="done", owner="b")
    assert store.journal("r1")[("0", "n", 0)].value_hash == "h1"


def test_a_dead_holder_on_this_host_is_taken_over_at_once(store):
    from plait.checkpoints.lease import LeaseHeld

    reaped = subprocess.Popen([sys.executable, "-c", "pass"])
    reaped.wait()
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    zombie.kill()
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped: its pid still exists
    for pid, run_id in ((reaped.pid, "r1"), (zombie.pid, "r2")):
        store.acquire_lease(run_id, "dead", ttl=600)
        execute(store, "UPDATE leases SET pid=? WHERE run_id=?", pid, run_id)
        store.acquire_lease(run_id, "next", ttl=60)
        assert store.lease(run_id).owner == "next"
    execute(store, "UPDATE leases SET host='elsewhere' WHERE run_id='r1'")
    with pytest.raises(LeaseHeld):  # on another host we cannot tell: the lease must expire
        store.acquire_lease("r1", "third", ttl=60)
    zombie.wait()


def test_the_lease_keeper_renews_and_releases(store):
    from plait.checkpoints.lease import LeaseHeld, LeaseKeeper

    with LeaseKeeper(store, "r1", ttl=0.3) as keeper:
        first = store.lease("r1").expires_at
        time.sleep(0.5)  # past the first expiry: renewed meanwhile
        assert store.lease("r1").expires_at > first
        with pytest.raises(LeaseHeld):
            store.acquire_lease("r1", "other", ttl=60)
        keeper.check()
    assert store.lease("r1") is None


# --- garbage collection --------------------------------------------------------------------------
def _recorded_run(store, run_id, value, key):
    from plait.hashing import sha256_hex

    store.create_run(RunRecord(run_id, store.save_plan(f'{{"run": "{run_id}"}}'), "done", 1.0, 1.0),
                     [("0", f'{{"q": "{run_id}"}}'.encode())])
    row = JournalRow(run_id=run_id, item_id="0", node_id="n", content_key=key, value_hash=sha256_hex(value),
                     status=Status.OK, source=Source.LM)
    store.record(row, value, cache=True, item_status="done")
    return row.value_hash


def test_gc_deletes_runs_then_only_the_values_nobody_references(store, monkeypatch):
    from plait.checkpoints import sql_store

    monkeypatch.setattr(sql_store, "PLAN_GRACE", -1.0)  # plans saved just now are collectable
    kept = _recorded_run(store, "keep", b'"shared"', "k-keep")
    _recorded_run(store, "old", b'"shared"', "k-old")  # same value, another key
    only_old = _recorded_run(store, "old2", b'"only old2"', "k-old2")
    before = store.item_counts()
    assert before == {"keep": {"done": 1}, "old": {"done": 1}, "old2": {"done": 1}}

    dry = store.collect_garbage(["old", "old2", "missing"], dry_run=True)
    assert dry.runs == ("old", "old2") and dry.items == 2 and dry.journal_rows == 2
    assert dry.values == 3 and dry.value_bytes == len(b'"only old2"{"q": "old"}{"q": "old2"}')
    assert dry.cache_entries == 1 and dry.plans == 2
    assert store.item_counts() == before  # a dry run changes nothing

    done = store.collect_garbage(["old", "old2"])
    assert done == dry
    assert [r.run_id for r in store.list_runs()] == ["keep"]
    assert store.read_value(kept) == b'"shared"' and store.lookup("k-keep") == kept
    assert store.lookup("k-old") == kept  # its value is still referenced, so the entry stays useful
    assert store.lookup("k-old2") is None
    with pytest.raises(plait.StoreError, match="missing"):
        store.read_value(only_old)
    assert store.collect_garbage() == type(done)()  # nothing left to collect


def test_gc_refuses_a_run_a_live_process_holds(store):
    from plait.checkpoints.lease import LeaseHeld

    _recorded_run(store, "busy", b"1", "k")
    store.acquire_lease("busy", "someone", ttl=60)
    with pytest.raises(LeaseHeld):
        store.collect_garbage(["busy"])
    assert [r.run_id for r in store.list_runs()] == ["busy"]


def test_gc_spares_a_plan_saved_just_now(store):
    store.save_plan('{"about to": "start a run"}')
    assert store.collect_garbage().plans == 0


def test_vacuum_gives_the_space_of_collected_values_back(store):
    noise = base64.b64encode(random.Random(0).randbytes(780_000))  # 1 MB; incompressible, as PostgreSQL compresses
    _recorded_run(store, "big", b'"' + noise + b'"', "k-big")
    store.collect_garbage(["big"])
    before = store.size_bytes()
    freed = store.vacuum()
    assert freed >= 990_000  # whole pages of the 1 MB value
    assert freed == before - store.size_bytes()  # what vacuum reports is what the file lost

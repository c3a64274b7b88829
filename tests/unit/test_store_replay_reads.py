"""What a resume reads (plait/checkpoints/replay_reads.py), on every store: each item's finished rows
joined with their values in one query, the same rows and values the journal and ``read_values``
give; rows that replay cannot take are left out, a value that is missing or does not match its hash
comes back as None; and the per-node counts of finished rows, as the journal counts them."""

from __future__ import annotations

from collections import Counter

from plait.checkpoints import replay_reads
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status
from plait.hashing import sha256_hex
from tests.stores import execute

ITEMS = [str(i) for i in range(7)]


def _value(item: str, node: str) -> bytes:
    return f'{{"out": "{node} of {item}"}}'.encode()


def _record(store, item: str, node: str, *, status=Status.OK, iteration=0, replay_key: str | None = "keyed") -> None:
    data = _value(item, node) if status is Status.OK else None
    key = sha256_hex(f"{replay_key}|{item}|{node}") if replay_key else None
    row = JournalRow(run_id="r1", item_id=item, node_id=node, iteration=iteration, content_key=f"c-{item}-{node}",
                     value_hash=sha256_hex(data) if data else None, status=status, source=Source.LM, replay_key=key)
    store.record(row, data, cache=False, item_status=None)


def _filled(store) -> None:
    """Items 0-6 with two finished nodes each; item 5's 'b' failed, item 6's 'b' has no replay key,
    and every item has a loop iteration 1 of 'a' (replay reads iteration 0 only)."""
    store.create_run(RunRecord("r1", store.save_plan("{}"), "running", 1.0, 1.0), [(i, b"{}") for i in ITEMS])
    for item in ITEMS:
        _record(store, item, "a")
        _record(store, item, "a", iteration=1)
        _record(store, item, "b", status=Status.FAILED if item == "5" else Status.OK,
                replay_key=None if item == "6" else "keyed")


def test_the_join_gives_the_journal_rows_and_values_replay_needs(store, monkeypatch):
    _filled(store)
    monkeypatch.setattr(replay_reads, "CHUNK", 3)  # three queries: the chunks join up
    read = store.replay_rows("r1", ITEMS + ["unknown"])
    journal = store.journal("r1")
    expected = {item: {} for item in ITEMS + ["unknown"]}
    for (item, node, iteration), row in journal.items():
        if iteration == 0 and row.status is Status.OK and row.replay_key:
            expected[item][node] = (row.replay_key, store.read_values([row.value_hash])[row.value_hash])
    assert read == expected
    assert read["0"]["b"] == (sha256_hex("keyed|0|b"), _value("0", "b"))
    assert set(read["5"]) == set(read["6"]) == {"a"} and read["unknown"] == {}
    assert store.replay_rows("r1", []) == {}


def test_a_value_missing_or_not_matching_its_hash_comes_back_as_none(store):
    _filled(store)
    damaged, missing = (journal_hash(store, "1", "a"), journal_hash(store, "2", "b"))
    execute(store, "UPDATE blobs SET data = ? WHERE hash = ?", b'{"out": "changed"}', bytes.fromhex(damaged))
    execute(store, "DELETE FROM blobs WHERE hash = ?", bytes.fromhex(missing))
    read = store.replay_rows("r1", ["1", "2", "3"])
    assert read["1"]["a"][1] is None and read["2"]["b"][1] is None
    assert read["1"]["b"][1] == _value("1", "b") and read["3"]["a"][1] == _value("3", "a")


def test_recorded_counts_count_the_finished_rows_of_each_node(store):
    _filled(store)
    counted = Counter(node for (_, node, iteration), row in store.journal("r1").items()
                      if iteration == 0 and row.status is Status.OK)
    assert store.recorded_counts("r1") == dict(counted) == {"a": 7, "b": 6}
    assert store.recorded_counts("no such run") == {}


def journal_hash(store, item: str, node: str) -> str:
    return store.journal("r1")[(item, node, 0)].value_hash

"""`plait check` and SQLiteStore.check: a whole store passes; a store damaged the ways disks, copies
and people damage files fails, each problem named by table and row with a fix that works.

The store is a real one written by a real run; each test damages a copy (as test_store_damage.py
does) and checks it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

import plait
from plait.checkpoints.check import LISTED, check_store
from plait.checkpoints.layout import key_bytes, key_text
from plait.checkpoints.sqlite import SQLiteStore
from plait.hashing import sha256_hex
from tests.cli.test_cli import plait_cmd
from tests.crash import pipeline_job as job

ITEMS = 150
FIX_RESTORE = "restore the store from a copy"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A closed store holding one finished run of 150 items x 4 LM nodes."""
    path = tmp_path_factory.mktemp("recorded") / "runs.db"
    run = plait.compile(job.Diamond()).run(job.items(ITEMS), ids=job.item_ids(ITEMS), store=str(path),
                                           lm=job.make_lm(latency=0.0), progress=False)
    assert run.status == "done"
    return path, run.id


@pytest.fixture
def copy(recorded, tmp_path):
    target = tmp_path / "copy.db"
    shutil.copy(recorded[0], target)
    return target, recorded[1]


def _sql(path, *statements: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        rows = []
        for statement in statements:
            rows = conn.execute(statement, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def test_a_whole_store_passes_and_the_report_says_what_was_checked(copy):
    path, _ = copy
    report = check_store(str(path))
    assert report.ok and report.problems == [] and report.unlisted == 0
    assert [line.split(":")[0] for line in report.checked] == ["pages", "schema", "references", "values"]
    assert "journal -> values" in report.checked[2] and "runs -> plans" in report.checked[2]
    assert report.rows["runs"] == 1 and report.rows["items"] == ITEMS and report.rows["journal"] == ITEMS * 5
    store = SQLiteStore(path, create=False)
    assert store.check(full=True).ok and "integrity_check" in store.check(full=True).checked[0]
    store.close()


def test_a_deleted_value_names_the_journal_row_and_the_cache_entry_that_referenced_it(copy):
    path, run_id = copy
    (stored, item_id), = _sql(path, "SELECT value_hash, item_id FROM journal WHERE node_id='diamond.left'"
                                    " ORDER BY item_id LIMIT 1")
    _sql(path, "DELETE FROM blobs WHERE hash=?", args=(stored,))
    value_hash = key_text(stored)  # schema 7 stores a hash as its bytes
    report = check_store(str(path))
    assert not report.ok and report.found == 2
    journal, cache = report.problems
    assert journal.check == "references"
    assert journal.where == f"journal (run {run_id}, item {item_id}, node diamond.left, iteration 0)"
    assert journal.what == f"the value {value_hash[:12]} this row recorded is missing from blobs"
    assert journal.fix.startswith(f"recompute the node in a fork, where everything upstream replays: "
                                  f"plait rerun {run_id} --from diamond.left")
    assert cache.where.startswith("cache (content key ") and value_hash[:12] in cache.what


def test_a_dangling_cache_entry_is_reported_and_its_fix_clears_it(copy):
    path, _ = copy
    _sql(path, "INSERT INTO cache VALUES ('k-dangling', 'v-gone')")
    report = check_store(str(path))
    (problem,) = report.problems
    assert problem.where == "cache (content key k-dangling)"
    assert problem.what == "the value v-gone this entry names is missing from blobs: a run that reuses it fails"
    command = problem.fix.split(f"sqlite3 {path} ")[1]  # the fix is a statement to run: run it
    _sql(path, json.loads(command))
    assert check_store(str(path)).ok


def test_a_value_that_is_not_json_or_not_its_hash_is_named_with_a_node_to_recompute(copy):
    path, run_id = copy
    _sql(path, "INSERT INTO blobs VALUES (?, ?)", args=(key_bytes(sha256_hex(b"{not json")), b"{not json"))
    (stored,), = _sql(path, "SELECT value_hash FROM journal WHERE node_id='diamond.final' LIMIT 1")
    _sql(path, "UPDATE blobs SET data=? WHERE hash=?", args=(b'{"answer": "forged"}', stored))
    value_hash = key_text(stored)  # schema 7 stores a hash as its bytes
    problems = {p.where: p for p in check_store(str(path)).problems}
    forged = problems[f"blobs (value {value_hash[:12]})"]
    assert forged.what.startswith("its bytes do not match its hash") and "plait rerun" in forged.fix
    assert f"plait rerun {run_id} --from diamond.final" in forged.fix
    garbage = problems[f"blobs (value {sha256_hex(b'{not json')[:12]})"]
    assert garbage.what.startswith("it does not parse as JSON") and garbage.fix == "nothing uses it: `plait gc` deletes it"


def test_a_missing_plan_a_missing_table_and_many_problems(copy):
    path, run_id = copy
    _sql(path, "DELETE FROM plans", "DROP TABLE cache", "DELETE FROM blobs WHERE hash IN"
               " (SELECT value_hash FROM journal WHERE node_id='diamond.root' LIMIT 30)")
    report = check_store(str(path))
    problems = {p.where: p for p in report.problems}
    assert problems["cache"].what == "table cache is missing" and problems["cache"].check == "schema"
    assert problems[f"runs (run {run_id})"].fix.startswith(f"delete the run with `plait gc --run {run_id}`")
    journal = [p for p in report.problems if p.where.startswith("journal (")]
    assert len(journal) == LISTED and report.unlisted == 30 - LISTED
    assert report.found == 1 + 1 + 30


def test_a_store_cut_in_half_is_one_problem_opening_it(copy):
    path, _ = copy
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    report = check_store(str(path))
    (problem,) = report.problems
    assert problem.check == "open" and "the file is damaged" in problem.what and FIX_RESTORE in problem.fix


def _pages_of(path, name: str) -> list[int]:
    return [p for (p,) in _sql(path, "SELECT pageno FROM dbstat WHERE name=? ORDER BY pageno", args=(name,))]


# schema 7: blobs has no index beside it (WITHOUT ROWID); the runs table still has one
@pytest.mark.parametrize("table", ["journal", "blobs", "items", "cache", "sqlite_autoindex_runs_1"])
def test_a_page_of_garbage_is_found(copy, table):
    path, _ = copy
    pages = _pages_of(path, table)
    with open(path, "r+b") as f:
        f.seek((pages[len(pages) // 2] - 1) * 4096)
        f.write(bytes((i * 131 + 7) % 256 for i in range(4096)))
    report = check_store(str(path))
    assert not report.ok
    assert report.problems[0].check == "pages" and report.problems[0].where == "the file"
    assert all(FIX_RESTORE in p.fix for p in report.problems)


def test_the_command_exits_0_when_whole_1_when_damaged_2_without_a_store(copy, tmp_path):
    path, run_id = copy
    clean = plait_cmd("check", "--store", str(path))
    assert clean.returncode == 0 and clean.stdout.startswith(f"plait check {path}: ok, no problems\nchecked:\n")
    _sql(path, "DELETE FROM plans")
    damaged = plait_cmd("check", "--store", str(path))
    assert damaged.returncode == 1
    assert damaged.stdout.startswith(f"plait check {path}: damaged, 1 problem\n")
    assert (f"problem 1 (references): runs (run {run_id})\n  its plan" in damaged.stdout
            and f"  fix: delete the run with `plait gc --run {run_id}`" in damaged.stdout)
    as_json = plait_cmd("check", "--store", str(path), "--json", "--full")
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and data["ok"] is False and data["problems"][0]["where"] == f"runs (run {run_id})"
    assert "integrity_check" in data["checked"][0]
    missing = plait_cmd("check", "--store", str(tmp_path / "nowhere.db"))
    assert missing.returncode == 2 and f"no plait store at {tmp_path / 'nowhere.db'}" in missing.stderr
    assert not (tmp_path / "nowhere.db").exists()

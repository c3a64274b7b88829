"""Opening a store: only a new run creates one. Resume, rerun, answers and pending refuse a missing,
empty, foreign or non-SQLite file with a StoreError and the fix, and leave the file as it was."""

from __future__ import annotations

import sqlite3

import pytest

import plait
from plait.checkpoints.sqlite import SQLiteStore
from tests.cli.test_cli import plait_cmd
from tests.programs import Chain4, echo_answer


def _sqlite(path, script: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()


# Each kind of file that is not a plait store: how to make it, and what the refusal says.
NOT_STORES = {
    "missing": (lambda path: None, "no plait store at {path}", "no such file"),
    "empty": (lambda path: path.write_bytes(b""), "{path} is empty, not a plait store", "a file of 0 bytes"),
    "no tables": (lambda path: _sqlite(path, "PRAGMA user_version=7;"), "{path} is empty, not a plait store",
                  "an SQLite database with no tables"),
    "foreign": (lambda path: _sqlite(path, "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');"),
                "{path} is an SQLite database but not a plait store", "tables ['notes']"),
    "not sqlite": (lambda path: path.write_text("name,score\nada,3\n" * 200),
                   "cannot open the checkpoint store {path}: it is not an SQLite database",
                   "DatabaseError: file is not a database"),
}

READERS = {
    "resume": lambda store: plait.resume("20261124-011635-3f9a2c", store=store, lm=plait.ScriptedLM(echo_answer)),
    "rerun": lambda store: plait.rerun("20261124-011635-3f9a2c", from_node="chain4.n2", store=store,
                                       lm=plait.ScriptedLM(echo_answer)),
    "pending": lambda store: plait.pending("20261124-011635-3f9a2c", store=store),
    "answer": lambda store: plait.answer("20261124-011635-3f9a2c", "0", "n", {"approved": True}, store=store),
    "SQLiteStore(create=False)": lambda store: SQLiteStore(store, create=False),
}


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("kind", list(NOT_STORES))
def test_reading_a_file_that_is_not_a_store_is_refused_and_changes_nothing(tmp_path, kind, reader):
    folder = tmp_path / "stores"
    folder.mkdir()
    path = folder / "runs.db"
    make, summary, found = NOT_STORES[kind]
    make(path)
    before = _files(folder)
    with pytest.raises(plait.StoreError) as err:
        READERS[reader](str(path))
    message = str(err.value)
    assert message.startswith(summary.format(path=path)) and f"found:    {found}" in message
    assert "fix: point store= (or --store, or $PLAIT_STORE) at" in message
    assert _files(folder) == before  # not created, not initialised, not switched to WAL


def test_a_missing_store_in_a_missing_folder_is_not_created_by_resume(tmp_path):
    path = tmp_path / "no" / "such" / "runs.db"
    with pytest.raises(plait.StoreError, match="only a new run"):
        plait.resume("r", store=str(path))
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("kind", ["missing", "empty", "no tables"])
def test_a_new_run_creates_its_store_from_a_missing_or_empty_file_then_resume_reads_it(tmp_path, kind):
    path = tmp_path / "runs.db"
    NOT_STORES[kind][0](path)
    run = plait.compile(Chain4()).run([{"question": "q"}], store=str(path), lm=plait.ScriptedLM(echo_answer))
    assert run.status == "done"
    again = plait.resume(run.id, store=str(path), lm=plait.ScriptedLM(echo_answer))
    assert again.status == "done" and again.stats.lm_calls == 0


@pytest.mark.parametrize("kind", ["foreign", "not sqlite"])
def test_a_new_run_refuses_a_file_that_holds_something_else_and_leaves_it_alone(tmp_path, kind):
    path = tmp_path / "runs.db"
    NOT_STORES[kind][0](path)
    before = _files(tmp_path)
    with pytest.raises(plait.StoreError):
        plait.compile(Chain4()).run([{"question": "q"}], store=str(path), lm=plait.ScriptedLM(echo_answer))
    assert _files(tmp_path) == before


def test_the_command_line_agrees_a_new_run_initialises_an_empty_file_and_resume_refuses_one(tmp_path):
    (tmp_path / "data.jsonl").write_text('{"question": "q"}\n')
    empty, other = tmp_path / "empty.db", tmp_path / "other.db"
    empty.write_bytes(b"")
    other.write_bytes(b"")
    lm = "scripted:tests.cli.fixtures:lm"
    refused = plait_cmd("resume", "latest", "--store", str(empty), "--lm", lm)
    assert refused.returncode == 1 and f"{empty} is empty, not a plait store" in refused.stderr
    assert empty.read_bytes() == b""
    started = plait_cmd("run", "tests.cli.fixtures:pipeline", str(tmp_path / "data.jsonl"), "--store", str(other),
                        "--lm", lm)
    assert started.returncode == 0, started.stderr
    assert len(SQLiteStore(other, create=False).list_runs()) == 1

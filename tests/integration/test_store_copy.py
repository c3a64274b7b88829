"""``plait copy`` moves runs between stores: a notebook's SQLite runs go to PostgreSQL and back,
with their plans, items, journal, questions, values and cache entries; copying again adds nothing;
a resume in the destination replays with no LM call, a waiting item is answered there."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import plait
from plait.checkpoints.location import open_location
from plait.cli import cli
from tests.cli import fixtures
from tests.human_programs import Reviewed
from tests.stores import execute

TABLES = ("runs", "items", "journal", "asks", "plans", "blobs", "cache")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _notebook_store(path: str) -> tuple[str, str]:
    """Two runs: one with a failed item (its unparseable reply remembered), one waiting for a person."""
    done = plait.compile(fixtures.Pipeline()).run([{"question": "one"}, {"question": "bad one"}], ids=["a", "c"],
                                                  store=path, lm=fixtures.lm(), progress=False)
    waiting = plait.compile(Reviewed()).run([{"topic": "pg"}], store=path, lm=fixtures.lm(), progress=False)
    assert done.status == "failed" and waiting.status == "waiting"
    return done.id, waiting.id


def _contents(location: str) -> dict[str, list[tuple]]:
    store = open_location(location, create=False)
    try:
        return {table: sorted(execute(store, f"SELECT * FROM {table}")) for table in TABLES}
    finally:
        store.close()


@pytest.mark.postgres
def test_runs_go_from_sqlite_to_postgres_and_back_and_resume_with_no_lm_call(pg_url, tmp_path):
    notebook, back = str(tmp_path / "notebook.db"), str(tmp_path / "back.db")
    done_id, waiting_id = _notebook_store(notebook)

    first = invoke("copy", "--all", "--from", notebook, "--to", pg_url, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert [r["run_id"] for r in report["runs"]] == [done_id, waiting_id]
    assert report["runs"][0]["added"]["journal"] == 4 and report["runs"][1]["added"]["asks"] == 1
    again = invoke("copy", done_id, "latest", "--from", notebook, "--to", pg_url)
    assert again.output.splitlines() == [f"{done_id}: already there", f"{waiting_id}: already there"]
    assert invoke("copy", "--all", "--from", pg_url, "--to", back).exit_code == 0

    assert _contents(back) == _contents(notebook)  # every row of both runs, as it was
    for location in (pg_url, back):
        lm = fixtures.lm()
        lm.record = True
        resumed = plait.resume(done_id, store=location, lm=lm, progress=False)
        assert resumed.status == "failed" and resumed.stats.lm_calls == 0 and lm.calls == 0
        assert resumed.outputs[0] == plait.resume(done_id, store=notebook, lm=fixtures.lm(), progress=False).outputs[0]
        [question] = plait.pending(waiting_id, store=location)
        plait.answer(waiting_id, question.item_id, question.node_id, {"approved": True, "comment": "ok"},
                     store=location)
        finished = plait.resume(waiting_id, store=location, lm=fixtures.lm(), progress=False)
        assert finished.status == "done" and finished.stats.lm_calls == 0
        assert finished.outputs[0].final.startswith("PUBLISHED")
    assert plait.pending(waiting_id, store=notebook) != []  # the source keeps its own state


def test_a_copy_into_sqlite_needs_no_server_and_names_what_it_copied(tmp_path):
    notebook, other = str(tmp_path / "notebook.db"), str(tmp_path / "other.db")
    done_id, _ = _notebook_store(notebook)
    result = invoke("copy", done_id, "--from", notebook, "--to", f"sqlite:///{other}")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{done_id}: copied 2 items, 4 journal rows, ")
    assert [r.run_id for r in plait.SQLiteStore(other).list_runs()] == [done_id]


@pytest.mark.parametrize("args, message, code", [
    (["copy", "--to", "x.db"], "name the runs to copy", 2),
    (["copy", "nope", "--to", "x.db"], "no run 'nope'", 2),
    (["copy", "--all", "--to", "mysql://me@db/runs"], "is a URL of an unknown kind ('mysql://')", 1),
])
def test_copy_errors_say_what_to_do(args, message, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _notebook_store(str(tmp_path / "src.db"))
    result = invoke(*args, "--from", str(tmp_path / "src.db"))
    assert result.exit_code == code and message in result.output and "fix:" in result.output
    assert not (tmp_path / "x.db").exists()

"""The ``plait`` command on a PostgreSQL store (in-process, click's CliRunner): ``--store URL`` and
``$PLAIT_STORE`` work for every command that runs or reads runs, reading commands do not create a
store in an empty database, the URL's password is never printed, and ``plait check`` reads the
store on the server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plait.checkpoints.layout import key_text
from plait.checkpoints.location import open_location
from plait.cli import cli
from tests.pg import database_of
from tests.stores import execute

pytestmark = pytest.mark.postgres
LM = "scripted:tests.cli.fixtures:lm"
SECRET = "s3cret-Pa55"


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_run_runs_show_resume_and_gc_on_a_postgres_store(pg_server, pg_url, tmp_path):
    url = pg_server.url(database_of(pg_url), password=SECRET)
    data = tmp_path / "data.jsonl"
    data.write_text('{"question": "one"}\n{"question": "bad one"}\n')
    ran = invoke("run", "tests.cli.fixtures:Pipeline", str(data), "--lm", LM, "--store", url, "--json")
    assert ran.exit_code == 3, ran.output  # one item fails, as designed
    run_id = json.loads(ran.stdout)["run_id"]
    listed = invoke("runs", "--json", env={"PLAIT_STORE": url})
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run_id]
    shown = invoke("show", "latest", "--store", url)
    resumed = invoke("resume", "latest", "--lm", LM, "--store", url, "--json")
    assert json.loads(resumed.stdout)["stats"]["lm_calls"] == 0  # the failure is remembered: not asked again
    collected = invoke("gc", "--status", "failed", "--store", url, "--json")
    assert json.loads(collected.stdout)["runs"] == [run_id]
    assert invoke("runs", "--json", "--store", url).stdout.strip() == "[]"
    for result in (ran, listed, shown, resumed, collected):
        assert SECRET not in result.output
    assert f"plait:***@/{database_of(url)}" in ran.stdout + shown.output


def test_a_reading_command_on_an_empty_database_creates_nothing(pg_server, pg_url):
    result = invoke("runs", "--store", pg_url)
    assert result.exit_code == 1 and f"no plait store at {pg_url}" in result.output
    assert pg_server.admin("SELECT COUNT(*) FROM pg_namespace WHERE nspname='plait'") == [(0,)]


def test_check_reads_a_postgres_store_and_names_each_problem_with_its_fix(pg_server, pg_url, tmp_path):
    assert invoke("check", "--store", pg_url).exit_code == 1  # an empty database: no store, none created
    assert pg_server.admin("SELECT COUNT(*) FROM pg_namespace WHERE nspname='plait'") == [(0,)]
    data = tmp_path / "data.jsonl"
    data.write_text('{"question": "one"}\n{"question": "two"}\n')
    assert invoke("run", "tests.cli.fixtures:Pipeline", str(data), "--lm", LM, "--store", pg_url).exit_code == 0
    whole = invoke("check", "--store", pg_url, "--json")
    report = json.loads(whole.stdout)
    assert whole.exit_code == 0 and report["ok"] and report["rows"]["journal"] > 0
    assert report["checked"][0].startswith("pages: kept by the PostgreSQL server")

    store = open_location(pg_url, create=False)
    try:
        (lost,) = execute(store, "SELECT value_hash FROM journal WHERE value_hash IS NOT NULL LIMIT 1")[0]
        execute(store, "DELETE FROM blobs WHERE hash=?", lost)
        (bent,) = execute(store, "SELECT hash FROM blobs LIMIT 1")[0]
        execute(store, "UPDATE blobs SET data=? WHERE hash=?", b"{not json", bent)
    finally:
        store.close()
    damaged = invoke("check", "--store", pg_url)
    assert damaged.exit_code == 1, damaged.output
    lost, bent = key_text(lost), key_text(bent)  # schema 3 stores a hash as its bytes
    assert f"the value {lost[:12]} this row recorded is missing from blobs" in damaged.output
    assert f"blobs (value {bent[:12]})" in damaged.output and "do not match its hash" in damaged.output
    assert f"psql '{pg_url}' -c 'SET search_path TO plait' -c \"DELETE FROM cache WHERE" in damaged.output

"""The ``plait`` command on a PostgreSQL store (in-process, click's CliRunner): ``--store URL`` and
``$PLAIT_STORE`` work for every command that runs or reads runs, reading commands do not create a
store in an empty database, and the URL's password is never printed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plait.cli import cli
from tests.pg import database_of

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

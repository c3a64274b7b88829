"""The ``plait`` command in-process (click's CliRunner): help, every usage error's message and exit
code, text formats, and how targets and --lm resolve. test_cli.py runs the real command."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import plait
from plait.cli import cli
from plait.cli.targets import load_lm, load_pipeline
from tests.cli import fixtures

LM = "scripted:tests.cli.fixtures:lm"
COMMANDS = ["run", "resume", "rerun", "runs", "show", "plan", "diff", "optimize", "gc", "check"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def recorded(tmp_path):
    store = tmp_path / "runs.db"
    items = [{"question": "one"}, {"question": "two"}, {"question": "bad one"}]
    run = plait.compile(fixtures.Pipeline()).run(items, ids=["a", "b", "c"], store=str(store), lm=fixtures.lm(),
                                                 progress=False)
    return str(store), run.id


def test_help_lists_every_command_with_examples_and_exit_codes():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"\n  {command} " in result.output
        sub = invoke(command, "--help")
        assert sub.exit_code == 0 and "Examples:" in sub.output and f"plait {command}" in sub.output
    assert "3 the run finished with failed" in result.output and "$PLAIT_STORE" in result.output


@pytest.mark.parametrize("args, message", [
    (["run", "no_such_module:P", "DATA"], "no module named 'no_such_module'"),
    (["run", "tests.cli.fixtures:Nope", "DATA"], "module 'tests.cli.fixtures' has no attribute 'Nope'"),
    (["run", "tests.cli.fixtures:NeedsArguments", "DATA"], "is a Module class that needs arguments"),
    (["run", "tests.cli.fixtures", "DATA"], "names no pipeline"),
    (["run", "tests.cli.fixtures:pipeline", "missing.jsonl"], "cannot read missing.jsonl"),
    (["run", "tests.cli.fixtures:pipeline", "DATA", "--lm", "gpt4"], "unknown LM 'gpt4'"),
    (["run", "tests.cli.fixtures:pipeline", "DATA", "--lm", "scripted:tests.cli.fixtures:answer"],
     "did not give an LM"),
    (["run", "missing_plan.json", "DATA"], "no plan file missing_plan.json"),
    (["runs", "--store", "nowhere.db"], "no plait store at nowhere.db"),
    (["optimize", "tests.cli.fixtures:QA", "--trainset", "DATA", "--out", "x.json"], "needs --metric"),
])
def test_usage_errors_exit_2_and_say_the_fix(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "DATA").write_text('{"question": "q", "answer": "a"}\n')
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("plait: error: ") and message in result.stderr
    assert "fix:" in result.stderr


def test_a_bad_jsonl_line_is_named(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"question": "q"}\n\n{"question": oops}\n')
    result = invoke("run", "tests.cli.fixtures:pipeline", str(data), "--lm", LM, "--store", str(tmp_path / "s.db"))
    assert result.exit_code == 2 and f"{data} line 3 is not valid JSON" in result.stderr


def test_a_damaged_store_is_a_failure_not_a_usage_error(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not a database" * 200)
    result = invoke("runs", "--store", str(junk), "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "StoreError" and "not an SQLite database" in error["message"]


def test_run_ids_resolve_by_prefix_and_latest_and_nodes_are_checked(recorded):
    store, run_id = recorded
    assert run_id in invoke("show", "latest", "--store", store).output
    result = invoke("rerun", run_id[:10], "--from", "nope", "--store", store)
    assert result.exit_code == 2 and f"run {run_id} has no node 'nope'" in result.stderr
    assert "inputs, pipeline.draft, pipeline.polish, outputs" in result.stderr
    result = invoke("show", "2", "--store", store)  # a prefix of every run: ambiguous only if two exist
    assert result.exit_code == 0


def test_runs_prints_a_table(recorded):
    store, run_id = recorded
    lines = invoke("runs", "--store", store).output.splitlines()
    assert lines[0].split() == ["RUN", "CREATED", "(UTC)", "STATUS", "DONE", "FAILED", "TOTAL", "LM", "CALLS",
                                "ANSWERED", "TOKENS", "COST", "PARENT"]
    row = lines[1].split()
    assert row[0] == run_id and row[3:7] + row[-1:] == ["failed", "2", "1", "3", "-"]
    assert row[7:9] == ["7", "7"] and int(row[9]) > 0 and row[10] == "-"  # the scripted LM reports no cost
    assert invoke("runs", "--store", store, "--status", "done").stderr.startswith("plait: no runs in")


def test_show_json_has_items_and_nodes(recorded):
    store, run_id = recorded
    report = json.loads(invoke("show", run_id, "--store", store, "--json").stdout)
    assert report["run"]["run_id"] == run_id and report["run"]["plan"]["nodes"] == 4
    assert [(i["id"], i["status"]) for i in report["items"]] == [("a", "done"), ("b", "done"), ("c", "failed")]
    nodes = {n["id"]: n for n in report["nodes"]}
    assert list(nodes) == ["pipeline.draft", "pipeline.polish", "outputs"]
    assert nodes["pipeline.draft"]["ok"] == 2 and nodes["pipeline.draft"]["failed"] == 1
    assert nodes["pipeline.polish"]["lm_calls"] == 2 and nodes["pipeline.polish"]["prompt_tokens"] > 0


def test_gc_dry_run_changes_nothing(recorded):
    store, run_id = recorded
    result = invoke("gc", "--older-than", "0s", "--dry-run", "--store", store)
    assert result.exit_code == 0
    assert result.output.startswith(f"would delete 1 runs: {run_id}\n  3 items, 7 journal rows")
    assert "(dry run: nothing was deleted)" in result.output
    assert [r.run_id for r in plait.SQLiteStore(store).list_runs()] == [run_id]
    assert "nothing" not in invoke("gc", "--keep-latest", "1", "--store", store).output  # keeps the only run
    assert [r.run_id for r in plait.SQLiteStore(store).list_runs()] == [run_id]
    bad = invoke("gc", "--older-than", "7 days", "--store", store)
    assert bad.exit_code == 2 and "'7 days' is not an age" in bad.stderr


def test_gc_spares_a_run_a_live_process_holds(recorded):
    store, run_id = recorded
    plait.SQLiteStore(store).acquire_lease(run_id, "another process", ttl=60)
    report = json.loads(invoke("gc", "--status", "failed", "--store", store, "--json").stdout)
    assert report["runs"] == [] and report["skipped_running"] == [run_id]
    result = invoke("gc", "--run", run_id, "--store", store)  # by name: refused, with the holder
    assert result.exit_code == 1 and "is being run by another process" in result.stderr


def test_targets_resolve_instances_classes_compiled_plan_files_py_paths_and_runs(recorded, tmp_path):
    store, run_id = recorded
    expected = plait.compile(fixtures.Pipeline())
    fixtures.compiled.save(tmp_path / "plan.json")
    for ref in ["tests.cli.fixtures:pipeline", "tests.cli.fixtures:Pipeline", "tests.cli.fixtures:compiled",
                str(tmp_path / "plan.json"), f"{fixtures.__file__}:Pipeline", run_id]:
        assert load_pipeline(ref, store) == expected, ref


def test_the_lm_is_the_flag_else_the_configured_one_else_local():
    assert isinstance(load_lm(None), plait.LocalLM)
    assert isinstance(load_lm("local"), plait.LocalLM)
    assert load_lm(LM).identity() == fixtures.lm().identity()
    assert isinstance(load_lm("openai/gpt-4o-mini"), plait.DSPyLM)
    plait.configure(lm=fixtures.lm())
    assert load_lm(None) is None  # the run uses what the pipeline's module configured


def test_resume_with_another_lm_replays_the_recorded_nodes_and_says_so(recorded):
    store, run_id = recorded
    result = invoke("resume", run_id, "--lm", "scripted:tests.cli.fixtures:other_lm", "--store", store, "--json")
    assert result.exit_code == 3
    assert (f"run {run_id} was made with the LM scripted; its recorded nodes replay as recorded, and the nodes "
            "still to run use scripted:tests.cli.fixtures:other_lm") in result.stderr
    report = json.loads(result.stdout)
    assert report["stats"]["replayed"] == 4  # items a and b: draft and polish, whichever LM made them
    assert {r["id"]: r["outputs"] for r in report["results"]}["a"] == {"answer": "answer<draft<one>>"}


def test_a_run_left_running_by_a_killed_process_is_listed_as_interrupted(recorded):
    store, run_id = recorded
    opened = plait.SQLiteStore(store)
    opened.set_run(run_id, status="running")  # what a SIGKILL leaves: status 'running', no live lease
    opened.close()
    rows = json.loads(invoke("runs", "--store", store, "--json").output)
    assert [(r["run_id"], r["status"], r["held_by"]) for r in rows] == [(run_id, "interrupted", None)]
    assert json.loads(invoke("runs", "--store", store, "--status", "interrupted", "--json").output)[0]["run_id"] == run_id

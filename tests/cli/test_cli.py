"""The real ``plait`` command, in a subprocess, against a temporary store: one test per subcommand,
plus exit codes and ``--json`` parsing. Each call imports plait (~1.5 s), so calls are few and
each checks much; messages and formats are checked in-process in test_cli_messages.py.

The pipeline, the scripted LM and the metric live in ``tests/cli/fixtures.py``; an item whose
question contains "bad" gets a reply that never parses, so it fails and the others finish.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import plait

ROOT = Path(__file__).resolve().parents[2]
LM = "scripted:tests.cli.fixtures:lm"
PIPELINE = "tests.cli.fixtures:Pipeline"
ITEMS = [{"id": "a", "question": "one"}, {"id": "b", "question": "two"}, {"id": "c", "question": "bad one"}]


def plait_cmd(*args: str, env: dict[str, str] | None = None, **popen: object) -> subprocess.CompletedProcess:
    """``plait ARGS`` from the repository root (so that tests.cli.fixtures imports)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("PLAIT_LM", None)
    return subprocess.run([sys.executable, "-m", "plait.cli", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=120, **popen)


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """`plait run` over three items, one of which fails: exit 3, JSON on stdout, outputs in a file."""
    tmp = tmp_path_factory.mktemp("cli")
    store, out = tmp / "runs.db", tmp / "outputs.jsonl"
    data = _jsonl(tmp / "data.jsonl", ITEMS)
    result = plait_cmd("run", PIPELINE, str(data), "--lm", LM, "--store", str(store), "--id-field", "id",
                       "--out", str(out), "--json")
    assert result.returncode == 3, result.stderr
    assert "1 of 3 items failed" in result.stderr and "plait show" in result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "failed" and report["items"] == {"total": 3, "done": 2, "failed": 1, "waiting": 0}
    assert report["stats"]["lm_nodes"] == 4  # the item that never parsed made 3 calls: 4 + 3 sent
    assert report["stats"]["lm_calls"] == report["totals"]["lm_calls"] == 7
    results = {r["id"]: r for r in report["results"]}
    assert results["a"]["outputs"] == {"answer": "answer<draft<one>>"} and results["c"]["outputs"] is None
    assert "cannot be parsed" in results["c"]["error"]
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a", "b", "c"]
    return store, report["run_id"]


def _copy(recorded, tmp_path) -> tuple[Path, str]:
    store, run_id = recorded
    shutil.copy(store, tmp_path / "runs.db")
    return tmp_path / "runs.db", run_id


def test_runs_lists_the_run_from_the_store_in_the_environment(recorded):
    store, run_id = recorded
    result = plait_cmd("runs", "--json", env={"PLAIT_STORE": str(store)})
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert row["run_id"] == run_id and row["status"] == "failed" and row["parent"] is None
    assert row["items"] == {"done": 2, "failed": 1, "waiting": 0, "total": 3} and row["created"].endswith("Z")


def test_show_prints_items_errors_and_a_node_table(recorded):
    store, run_id = recorded
    result = plait_cmd("show", run_id[:17], "--store", str(store))  # a unique prefix is enough
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"run {run_id}  failed  (plan pipeline, 4 nodes)" in text
    assert "items: 3 (2 done, 1 failed)" in text
    lines = text.splitlines()
    assert any(line.split()[:2] == ["c", "failed"] for line in lines)
    draft = next(line.split() for line in lines if line.startswith("pipeline.draft"))
    assert draft[:6] == ["pipeline.draft", "2", "1", "5", "0", "0"]  # ok, failed, LM calls (3 for c), cache, parent
    assert "errors:\nitem c:\n  the LM reply of node 'pipeline.draft' cannot be parsed" in text
    assert "fix:" in text


def test_run_interrupted_by_ctrl_c_exits_130_and_resume_finishes_it(tmp_path):
    store = tmp_path / "runs.db"
    data = _jsonl(tmp_path / "many.jsonl", [{"question": f"q{i}"} for i in range(40)])
    args = ["run", PIPELINE, str(data), "--lm", "scripted:tests.cli.fixtures:slow_lm", "--concurrency", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PLAIT_STORE": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "plait.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_recorded_nodes(store, 4)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    [record] = plait.SQLiteStore(store).list_runs()
    assert record.status == "interrupted"
    assert f"interrupted: run {record.run_id} stopped; finish it with: plait resume {record.run_id}" in err

    result = plait_cmd("resume", "latest", "--lm", LM, "--json", env={"PLAIT_STORE": str(store)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["run_id"] == record.run_id and report["status"] == "done"
    assert report["stats"]["replayed"] >= 4 and report["stats"]["lm_calls"] + report["stats"]["replayed"] == 80


def _wait_for_recorded_nodes(store: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if store.exists():
            try:
                opened = plait.SQLiteStore(store)
                runs = opened.list_runs()
                if runs and len(opened.journal(runs[0].run_id)) >= count:
                    return
            except plait.StoreError:
                pass  # the run is creating the store right now
        time.sleep(0.05)
    raise AssertionError("the run recorded nothing")


def test_rerun_forks_the_run_from_a_node(recorded, tmp_path):
    store, run_id = _copy(recorded, tmp_path)
    result = plait_cmd("rerun", run_id, "--from", "pipeline.polish", "--lm", LM, "--store", str(store), "--json")
    assert result.returncode == 3, result.stderr  # item c still fails: its draft never parses
    report = json.loads(result.stdout)
    assert report["run_id"] != run_id
    assert report["stats"]["lm_calls"] == 2 and report["stats"]["replayed"] == 2  # polish recomputed, draft replayed
    runs = {r.run_id: r for r in plait.SQLiteStore(store).list_runs()}
    assert runs[report["run_id"]].parent_run == run_id and runs[run_id].status == "failed"


def test_plan_prints_the_ir_and_saves_it(tmp_path):
    result = plait_cmd("plan", PIPELINE, "--out", str(tmp_path / "plan.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "plan pipeline (4 nodes)"
    assert "pipeline.polish = predict[draft -> answer](draft=pipeline.draft.draft)" in result.stdout
    assert plait.CompiledPipeline.load(tmp_path / "plan.json") == plait.compile(
        __import__("tests.cli.fixtures", fromlist=["Pipeline"]).Pipeline())


def test_diff_compares_a_stored_run_with_an_edited_pipeline(recorded):
    store, run_id = recorded
    result = plait_cmd("diff", run_id, "tests.cli.fixtures:edited", "--store", str(store), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["same"] is False and report["changes"][0] == "~ node pipeline.polish"
    assert any("Polish the draft into one short sentence." in line for line in report["changes"])


def test_gc_deletes_failed_runs_and_their_values(recorded, tmp_path):
    store, run_id = _copy(recorded, tmp_path)
    result = plait_cmd("gc", "--status", "failed", "--store", str(store), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["runs"] == [run_id] and report["items"] == 3 and report["journal_rows"] == 7
    # 3 inputs, 2 drafts, 2 answers (the outputs are the same values), c's unparseable reply; cache:
    # 2 drafts, 2 answers, and c's parse failure (remembered under '<content key>:failed')
    assert report["values"] == 8 and report["cache_entries"] == 5
    assert report["bytes_freed"] == report["store_bytes_before"] - report["store_bytes_after"] >= 0
    opened = plait.SQLiteStore(store)
    assert opened.list_runs() == []
    assert opened._conn.execute("SELECT COUNT(*) FROM blobs").fetchone() == (0,)


def test_optimize_writes_a_plan_with_labeled_demos(tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", [{"question": f"q{i}", "answer": f"a{i}"} for i in range(6)])
    out = tmp_path / "optimized.json"
    result = plait_cmd("optimize", "tests.cli.fixtures:QA", "--trainset", str(train), "--optimizer", "labeled",
                       "--k", "3", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["changes"][0] == "~ node qa.answer"
    [node] = [n for n in json.loads(out.read_text())["nodes"] if n["id"] == "qa.answer"]
    assert len(node["params"]["demos"]) == 3 and node["params"]["provenance"]["optimizer"] == "LabeledFewShot"


def test_a_target_that_is_not_a_pipeline_exits_2_with_the_fix(tmp_path):
    data = _jsonl(tmp_path / "data.jsonl", ITEMS)
    result = plait_cmd("run", "tests.cli.fixtures:not_a_pipeline", str(data), "--store", str(tmp_path / "s.db"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("plait: error: 'tests.cli.fixtures:not_a_pipeline' is not a pipeline")
    assert "fix: name a plait.Module or dspy.Module instance or class" in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_an_unknown_run_exits_2_with_a_json_error(recorded):
    store, _ = recorded
    result = plait_cmd("resume", "no-such-run", "--store", str(store), "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "UsageError" and error["exit_code"] == 2
    assert error["message"].startswith(f"no run 'no-such-run' in {store}")


@pytest.mark.local_model
def test_run_and_resume_on_the_embedded_model(tmp_path):
    """The default LM is the real embedded model: a run, then a resume that replays it."""
    from plait.demo.data import load

    store = tmp_path / "runs.db"
    data = _jsonl(tmp_path / "data.jsonl", [{k: row[k] for k in ("context", "question")} for row in load()[:2]])
    first = plait_cmd("run", "plait.demo.pipeline:PeopleQA", str(data), "--lm", "local", "--store", str(store),
                      "--json")
    assert first.returncode in (0, 3), first.stderr  # 3: the zero-shot 135M model may fail an item
    report = json.loads(first.stdout)
    assert report["items"]["total"] == 2 and report["stats"]["lm_calls"] >= 2
    again = plait_cmd("resume", report["run_id"], "--lm", "local", "--store", str(store), "--json")
    assert again.returncode in (0, 3), again.stderr
    assert json.loads(again.stdout)["items"]["total"] == 2


def test_optimize_with_a_search_optimizer_records_its_choice_and_resumes_for_free(tmp_path):
    rows = [{"question": f"q{i}", "answer": f"answer<draft<q{i}>>"} for i in range(6)]
    train, val = _jsonl(tmp_path / "train.jsonl", rows[:4]), _jsonl(tmp_path / "val.jsonl", rows[4:])
    out, store = tmp_path / "optimized.json", tmp_path / "runs.db"
    args = ("optimize", "tests.cli.fixtures:Pipeline", "--trainset", str(train), "--valset", str(val),
            "--optimizer", "random", "--trials", "3", "--metric", "tests.cli.fixtures:exact",
            "--lm", "scripted:tests.cli.fixtures:lm", "--store", str(store), "--out", str(out), "--json")
    result = plait_cmd(*args)
    assert result.returncode == 0, result.stderr
    [node] = [n for n in json.loads(out.read_text())["nodes"] if n["id"] == "pipeline.polish"]
    prov = node["params"]["provenance"]
    assert prov["optimizer"] == "RandomSearch" and prov["trials"] == 3 and prov["score"] == 1.0
    assert any(line.startswith("    optimized by: (none) -> RandomSearch") for line in json.loads(result.stdout)["changes"])
    first = out.read_text()
    assert plait_cmd(*args).returncode == 0 and out.read_text() == first


def test_a_search_optimizer_without_a_metric_exits_2(tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", [{"question": "q", "answer": "a"}])
    result = plait_cmd("optimize", "tests.cli.fixtures:QA", "--trainset", str(train), "--optimizer", "mipro",
                       "--out", str(tmp_path / "o.json"))
    assert result.returncode == 2 and "--optimizer mipro needs --metric MODULE:FUNC" in result.stderr


def test_a_dspy_program_is_a_target_as_it_is(tmp_path):
    result = plait_cmd("plan", "tests.dspy_programs:DraftThenPolish")
    assert result.returncode == 0, result.stderr
    assert "draft_then_polish.draft = predict[question -> draft]" in result.stdout
    assert "draft_then_polish.polish = predict[question, draft -> answer]" in result.stdout

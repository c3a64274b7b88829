"""``plait resume`` goes on with the LMs the run recorded (issues 11 and 15): without ``--lm`` it
rebuilds the run's LM and fallbacks from the store and says so, and whatever LM it uses, the
nodes the run recorded replay with no call (DESIGN.md contract 5)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import plait
from plait.cli import cli
from tests.cli import fixtures
from tests.crash.child import count_calls
from tests.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]
DOWN, BACKUP = "scripted:tests.cli.fallback_lms:down", "scripted:tests.cli.fallback_lms:backup"
ITEM = re.compile(r"q(\d+)")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def recorded_nodes(store: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(store)
    rows = conn.execute("SELECT item_id, node_id FROM journal WHERE status='ok'").fetchall()
    conn.close()
    return set(rows)


def run_config(store: str, run_id: str) -> dict:
    opened = plait.SQLiteStore(store)
    try:
        return opened.get_run(run_id).config
    finally:
        opened.close()


def calls(calls_file: Path, skip: int = 0) -> list[tuple[str, str, str]]:
    """(LM, item, node) per call logged in the file, from line ``skip`` on."""
    lines = calls_file.read_text().splitlines()[skip:] if calls_file.exists() else []
    return [(lm, "i" + ITEM.search(inputs).group(1), node) for lm, node, inputs in (l.split(" ", 2) for l in lines)]


@pytest.mark.parametrize("ending", ["finished", "killed"])
def test_resume_without_lm_uses_the_recorded_lm_and_fallback_and_calls_none_for_recorded_nodes(tmp_path, ending):
    store, calls_file = tmp_path / "runs.db", tmp_path / "calls.txt"
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": f"i{i}", "question": f"q{i}"}) + "\n" for i in range(12)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PLAIT_CALLS_FILE": str(calls_file),
           "PLAIT_LM_LATENCY": "0.05" if ending == "killed" else "0"}
    env.pop("PLAIT_LM", None)
    command = [sys.executable, "-m", "plait.cli"]
    run = subprocess.Popen([*command, "run", "tests.cli.fixtures:Pipeline", str(data), "--id-field", "id", "--lm", DOWN,
                            "--fallback", BACKUP, "--concurrency", "2", "--store", str(store)],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if ending == "killed":
            _kill_after(run, calls_file, 8)
        else:
            assert run.wait(120) == 0, run.stderr.read()
    finally:
        run.kill()
        run.communicate()
    before, recorded = count_calls(calls_file), recorded_nodes(store)
    assert {lm for lm, _, _ in calls(calls_file)} == {"primary", "backup"}  # the run fell back

    resumed = subprocess.run([*command, "resume", "latest", "--store", str(store), "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"plait: resuming with the run's LM: {DOWN} (recorded)" in resumed.stderr
    assert f"plait: resuming with the run's fallbacks: primary -> {BACKUP} (recorded)" in resumed.stderr
    again = calls(calls_file, skip=before)
    assert not [c for c in again if c[1:] in recorded], "a recorded node was called again"
    assert (again == []) == (ending == "finished")
    report = json.loads(resumed.stdout)
    assert report["status"] == "done"
    assert {r["id"]: r["outputs"]["answer"] for r in report["results"]} == {
        f"i{i}": f"answer<draft<q{i}>>" for i in range(12)}


def _kill_after(proc: subprocess.Popen, calls_file: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while count_calls(calls_file) < count:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, f"no {count} calls within 60 s"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL


def test_a_run_of_a_python_object_lm_is_resumed_with_a_note_and_still_replays(tmp_path):
    store = str(tmp_path / "runs.db")
    run = plait.compile(fixtures.Pipeline()).run([{"question": "one"}], store=store, lm=fixtures.lm(),
                                                 progress=False)
    result = invoke("resume", run.id, "--store", store, "--lm", "scripted:tests.cli.fixtures:lm", "--json")
    assert result.exit_code == 0 and "note" not in result.stderr  # the same LM: nothing to say
    plait.configure(lm=fixtures.other_lm())  # what a module that configures an LM does on import
    result = invoke("resume", run.id, "--store", store, "--json")
    assert result.exit_code == 0
    assert (f"plait: note: run {run.id}'s LM 'scripted' was an object made in Python and cannot be rebuilt here; "
            "its recorded nodes replay as recorded, and the nodes still to run use other; pass --lm") in result.stderr
    stats = json.loads(result.stdout)["stats"]
    assert stats["lm_calls"] == 0 and stats["replayed"] == 2


def test_a_run_from_before_lms_were_recorded_is_resumed_with_a_true_note(tmp_path):
    store = str(tmp_path / "runs.db")
    run = plait.compile(fixtures.Pipeline()).run([{"question": "one"}], store=store, lm=fixtures.lm(),
                                                 progress=False)
    conn = sqlite3.connect(store)
    conn.execute("UPDATE runs SET config='{}'")  # what an older plait recorded
    conn.commit()
    conn.close()
    result = invoke("resume", run.id, "--store", store, "--lm", "scripted:tests.cli.fixtures:other_lm", "--json")
    assert result.exit_code == 0
    assert (f"plait: note: run {run.id} called the LM scripted; its recorded nodes replay as recorded, and the "
            "nodes still to run use other; pass --lm to choose their LM") in result.stderr
    assert json.loads(result.stdout)["stats"]["replayed"] == 2


def test_fallbacks_are_all_named_or_all_for_every_lm(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"question": "q"}\n')
    result = invoke("run", "tests.cli.fixtures:Pipeline", str(data), "--lm", DOWN, "--fallback", BACKUP,
                    "--fallback", f"primary={BACKUP}", "--store", str(tmp_path / "runs.db"))
    assert result.exit_code == 2
    assert "--fallback is given both with and without NAME=" in result.stderr
    assert "fix: write every --fallback as SPEC (a fallback for every LM) or every one as NAME=SPEC" in result.stderr


def test_a_named_fallback_is_recorded_and_a_rerun_forks_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAIT_CALLS_FILE", str(tmp_path / "calls.txt"))
    store, data = str(tmp_path / "runs.db"), tmp_path / "data.jsonl"
    data.write_text('{"question": "q1"}\n')
    assert invoke("run", "tests.cli.fixtures:Pipeline", str(data), "--lm", DOWN, "--fallback", f"primary={BACKUP}",
                  "--store", store).exit_code == 0
    result = invoke("rerun", "latest", "--from", "pipeline.polish", "--store", store, "--json")
    assert result.exit_code == 0, result.stderr
    assert f"plait: forking with the run's LM: {DOWN} (recorded)" in result.stderr
    assert f"plait: forking with the run's fallbacks: primary -> {BACKUP} (recorded)" in result.stderr
    fork = run_config(store, json.loads(result.stdout)["run_id"])
    assert fork["lms"]["fallbacks"]["primary"][0]["spec"] == BACKUP  # the fork records what it used


def test_a_run_made_with_a_hosted_lm_resumes_on_it_not_on_the_embedded_model(tmp_path, monkeypatch):
    """Issue 15: `plait resume RUN` used the embedded model for a run made with another LM."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    store, items = str(tmp_path / "runs.db"), [{"question": f"q{i}"} for i in range(4)]
    with OpenAIServer(lambda inputs, fields: {f: f"{f}<{' '.join(inputs.values())}>" for f in fields}) as server:
        lm = plait.DSPyLM("openai/test-model", api_base=server.url + "/v1", api_key="sk-given-to-the-run")
        first = plait.compile(fixtures.Pipeline()).run(items, store=store, lm=lm, budget=plait.Budget(lm_calls=4),
                                                       concurrency=1, progress=False)
        assert first.status == "stopped" and len(server.requests) == 4
        result = invoke("resume", first.id, "--store", store, "--json")
        later = server.requests[4:]
    assert result.exit_code == 0, result.stderr
    assert "plait: resuming with the run's LM: openai/test-model (recorded)" in result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "done" and report["stats"]["lm_calls"] == 4 and report["stats"]["replayed"] == 4
    assert len(later) == 4 and {r.headers["authorization"] for r in later} == {"Bearer sk-from-the-environment"}
    assert [r["outputs"]["answer"] for r in report["results"]] == [f"answer<draft<q{i}>>" for i in range(4)]
    config = run_config(store, first.id)
    assert "sk-given-to-the-run" not in json.dumps(config) and config["lms"]["lm"]["spec"] == "openai/test-model"

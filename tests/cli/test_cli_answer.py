"""Suspend, exit, answer from other processes, resume: three real processes (issue 6).

Process 1 (`plait run`) drafts with an LM and exits with every item waiting for a review;
process 2 answers, by `plait answer` (fields and JSON) and by Python; a refused answer changes
nothing; process 3 (`plait resume`) finishes. The LM calls of every process go to one file, so
the test sees that no draft was made twice.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli.test_cli import ROOT, _jsonl, plait_cmd

LM = "scripted:tests.human_programs:counted_lm"
PIPELINE = "tests.human_programs:Reviewed"
NODE = "reviewed.review"


def test_suspend_exit_answer_from_other_processes_and_resume(tmp_path):
    store, calls = tmp_path / "runs.db", tmp_path / "calls.txt"
    env = {"PLAIT_TEST_CALLS": str(calls)}
    data = _jsonl(tmp_path / "data.jsonl", [{"topic": t} for t in ("cats", "dogs", "owls")])
    first = plait_cmd("run", PIPELINE, str(data), "--lm", LM, "--store", str(store), "--json", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    run_id = report["run_id"]
    assert report["status"] == "waiting" and report["items"]["waiting"] == 3
    assert f"3 of 3 items wait for a person's answer; see the questions with: plait answer {run_id} --list" in first.stderr
    assert calls.read_text().splitlines() == ["reviewed.write"] * 3

    listed = plait_cmd("answer", run_id, "--list", "--json", "--store", str(store))
    questions = json.loads(listed.stdout)
    assert [(q["item"], q["node"], q["ask"]) for q in questions] == [(i, NODE, 0) for i in "012"]
    assert questions[1]["context"] == {"draft": "about dogs"}
    assert questions[1]["expected"] == {"approved": "bool", "comment": "str"}

    bad = plait_cmd("answer", "latest", "--item", "0", "--node", NODE, "--value", "approved=perhaps",
                    "--value", "comment=hm", "--store", str(store))
    assert bad.returncode == 2 and "does not fit field 'approved'" in bad.stderr and "expected: bool" in bad.stderr
    good = plait_cmd("answer", "latest", "--item", "0", "--node", NODE, "--value", "approved=true",
                     "--value", "comment=looks good", "--store", str(store))
    assert good.returncode == 0, good.stderr
    assert 'answered item 0, node reviewed.review, ask 0: {"approved": true, "comment": "looks good"}' in good.stdout
    by_json = plait_cmd("answer", run_id, "--item", "2", "--node", NODE, "--values",
                        '{"approved": false, "comment": "42"}', "--store", str(store))
    assert by_json.returncode == 0, by_json.stderr
    shown = plait_cmd("show", run_id, "--store", str(store))
    assert "1 waiting" in shown.stdout and "waiting for answers" in shown.stdout and "about dogs" in shown.stdout
    by_python = (f"import plait; plait.answer({run_id!r}, '1', {NODE!r}, {{'approved': True, 'comment': 'ok'}},"
                 f" store={str(store)!r})")
    subprocess.run([sys.executable, "-c", by_python], cwd=ROOT, check=True, timeout=120)

    last = plait_cmd("resume", run_id, "--lm", LM, "--store", str(store), "--json", env=env)
    assert last.returncode == 0, last.stderr
    final = json.loads(last.stdout)
    assert final["status"] == "done" and final["stats"]["lm_calls"] == 0 and final["stats"]["replayed"] == 3
    assert [r["outputs"]["final"] for r in final["results"]] == [
        "PUBLISHED: about cats (looks good)", "PUBLISHED: about dogs (ok)", "REJECTED: about owls (42)"]
    assert calls.read_text().splitlines() == ["reviewed.write"] * 3  # no draft was made again
    empty = plait_cmd("answer", run_id, "--list", "--store", str(store))
    assert empty.returncode == 0 and "no question of run" in empty.stderr

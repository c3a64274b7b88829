"""``plait run --name``, ``plait runs`` with names, and ``plait gc --superseded``, in a subprocess."""

from __future__ import annotations

import json

from tests.cli.test_cli import LM, PIPELINE, _jsonl, plait_cmd


def test_named_runs_are_reused_listed_and_collected_when_superseded(tmp_path):
    store = tmp_path / "runs.db"
    data = _jsonl(tmp_path / "data.jsonl", [{"question": "one"}, {"question": "two"}])
    fewer = _jsonl(tmp_path / "fewer.jsonl", [{"question": "one"}])
    run = ["run", PIPELINE, "--lm", LM, "--name", "nightly", "--store", str(store), "--json"]
    first = plait_cmd(*run[:2], str(data), *run[2:])
    assert first.returncode == 0, first.stderr
    first_id = json.loads(first.stdout)["run_id"]
    again = plait_cmd(*run[:2], str(data), *run[2:])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["run_id"] == first_id and json.loads(again.stdout)["stats"]["lm_calls"] == 0
    assert f"plait: resuming run {first_id}: 4 of 4 nodes recorded" in again.stderr
    other = plait_cmd(*run[:2], str(fewer), *run[2:])  # other data: a new run of that name
    other_id = json.loads(other.stdout)["run_id"]

    listed = plait_cmd("runs", "--store", str(store))
    assert [line.split()[:2] for line in listed.stdout.splitlines()[1:]] == [[first_id, "nightly"], [other_id, "nightly"]]

    dry = plait_cmd("gc", "--superseded", "--dry-run", "--json", "--store", str(store))
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["runs"] == [first_id] and json.loads(dry.stdout)["dry_run"] is True
    done = plait_cmd("gc", "--superseded", "--store", str(store))
    assert done.returncode == 0 and f"deleted 1 runs: {first_id}" in done.stdout
    left = json.loads(plait_cmd("runs", "--json", "--store", str(store)).stdout)
    assert [(r["run_id"], r["name"]) for r in left] == [(other_id, "nightly")]

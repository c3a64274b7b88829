"""``plait graph`` in a subprocess: a pipeline's plan and a run's plan (coloured by status) as SVG."""

from __future__ import annotations

import json
import re

from tests.cli.test_cli import ITEMS, LM, PIPELINE, _jsonl, plait_cmd


def test_graph_draws_a_pipeline_and_a_run_coloured_by_status(tmp_path):
    store = tmp_path / "runs.db"
    assert plait_cmd("run", PIPELINE, str(_jsonl(tmp_path / "d.jsonl", ITEMS)), "--lm", LM,
                     "--store", str(store)).returncode == 3  # one of the three items fails

    plain = plait_cmd("graph", PIPELINE)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith("<svg") and 'data-node="pipeline.draft"' in plain.stdout
    assert re.findall(r'data-status="([^"]*)"', plain.stdout) == ["", "", "", ""]  # no run: no status

    out = tmp_path / "run.svg"
    drawn = plait_cmd("graph", "latest", "-o", str(out), "--store", str(store), "--json")
    assert drawn.returncode == 0, drawn.stderr
    assert f"drew 4 nodes to {out}" in drawn.stderr
    report = json.loads(drawn.stdout)
    nodes = {n["id"]: n for n in report["nodes"]}
    assert nodes["pipeline.draft"]["status"] == "failed" and nodes["pipeline.draft"]["counts"] == {"done": 2, "failed": 1}
    assert nodes["pipeline.polish"]["counts"] == {"done": 2, "not reached": 1}
    svg = out.read_text()
    assert re.findall(r'data-node="([^"]*)" data-op="[^"]*" data-status="([^"]*)"', svg) == [
        ("inputs", "done"), ("pipeline.draft", "failed"), ("pipeline.polish", "done"), ("outputs", "done")]

    missing = plait_cmd("graph", "no-such-run", "--store", str(store))
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stderr and "fix:" in missing.stderr

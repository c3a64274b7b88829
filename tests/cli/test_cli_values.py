"""The issue's case through the real ``plait`` command and a real SQLite file: a JSONL dataset with
NaN, -Infinity and lone surrogates, steps that return them. Every item that can finish finishes,
the one whose prompt cannot be sent fails alone, resume replays, a second run reuses the cache."""

from __future__ import annotations

import json
import math
import sqlite3

from tests.cli.test_cli import LM, plait_cmd

PIPELINE = "tests.cli.values_pipeline:Values"
# Written by hand: json.dumps would not write NaN this way or keep the escapes as they are in scraped data.
LINES = [
    '{"id": "plain", "question": "q1", "x": 1.5, "text": "a"}',
    '{"id": "nan", "question": "q2", "x": NaN, "text": "b"}',
    '{"id": "inf", "question": "q3", "x": -Infinity, "text": "c"}',
    '{"id": "surrogate", "question": "q4", "x": 2, "text": "scraped \\ud800 text"}',
    '{"id": "bad-prompt", "question": "q5 \\udfff", "x": 3, "text": "d"}',
]


def _run_json(*args: str) -> dict:
    result = plait_cmd(*args, "--json")
    assert result.returncode == 3, result.stderr  # one item failed, the others finished
    assert "Traceback" not in result.stderr and "bug" not in result.stderr
    return json.loads(result.stdout)


def _check_outputs(report: dict) -> None:
    results = {r["id"]: r for r in report["results"]}
    assert {k: r["status"] for k, r in results.items()} == {
        "plain": "done", "nan": "done", "inf": "done", "surrogate": "done", "bad-prompt": "failed"}
    assert results["plain"]["outputs"] == {"answer": "answer<q1>", "scaled": 3.0, "tagged": "<a>"}
    assert math.isnan(results["nan"]["outputs"]["scaled"]) and results["inf"]["outputs"]["scaled"] == -math.inf
    assert results["surrogate"]["outputs"]["tagged"] == "<scraped \ud800 text>"
    error = results["bad-prompt"]["error"]
    assert "node 'values.answer', input 'question'" in error and "lone surrogate" in error and "fix: clean" in error


def test_nan_and_surrogates_run_resume_and_reuse(tmp_path):
    store, data = tmp_path / "runs.db", tmp_path / "data.jsonl"
    data.write_text("\n".join(LINES) + "\n")
    common = ("--lm", LM, "--store", str(store))

    first = _run_json("run", PIPELINE, str(data), "--id-field", "id", *common)
    _check_outputs(first)
    # 8 steps of the 4 done items; the failed item's 2 steps run too when they started beside its LM node
    assert first["stats"]["lm_calls"] == 4 and first["stats"]["steps"] in (8, 9, 10)

    resumed = _run_json("resume", first["run_id"], *common)
    _check_outputs(resumed)
    assert resumed["stats"]["lm_calls"] == 0 and resumed["stats"]["replayed"] in (12, 13, 14)  # as above

    second = _run_json("run", PIPELINE, str(data), "--id-field", "id", *common)
    _check_outputs(second)
    assert second["stats"]["cache_hits"] in (12, 13, 14) and second["stats"]["lm_calls"] == 0

    with sqlite3.connect(store) as db:  # NaN is stored as NaN, a lone surrogate as its escape; no null
        blobs = [bytes(b) for (b,) in db.execute("SELECT data FROM blobs")]
    assert any(b'"scaled":NaN' in b for b in blobs) and any(b"\\ud800" in b for b in blobs)
    assert not any(b'"scaled":null' in b for b in blobs)
    shown = plait_cmd("show", first["run_id"], "--store", str(store))
    assert shown.returncode == 0 and "bad-prompt  failed" in shown.stdout, shown.stderr


def test_strict_refuses_what_lax_converts(tmp_path):
    store, data = tmp_path / "runs.db", tmp_path / "data.jsonl"
    data.write_text('{"question": "q", "x": "7", "text": "a"}\n{"question": "q", "x": 7, "text": "a"}\n')
    lax = plait_cmd("run", PIPELINE, str(data), "--lm", LM, "--store", str(store), "--json")
    assert lax.returncode == 0, lax.stderr
    assert [r["outputs"]["scaled"] for r in json.loads(lax.stdout)["results"]] == [14.0, 14.0]
    strict = plait_cmd("run", PIPELINE, str(data), "--lm", LM, "--store", str(store), "--strict", "--json")
    assert strict.returncode == 3, strict.stderr
    first, second = json.loads(strict.stdout)["results"]
    assert first["status"] == "failed" and "field 'x' has the wrong type" in first["error"]
    assert "strict validation is on" in first["error"] and second["status"] == "done"

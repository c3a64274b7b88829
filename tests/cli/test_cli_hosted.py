"""Hosted models on the command line: ``--api-base`` sends a provider/model ``--lm`` to a server of
one's own, and a missing API key stops the command once, before any item, with the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import plait
from tests.cli.test_cli import PIPELINE, ROOT
from tests.openai_server import OpenAIServer

ITEMS = [{"question": f"q{i}"} for i in range(3)]
_PROVIDER_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "PLAIT_LM", "PLAIT_API_BASE")


def _plait(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in _PROVIDER_VARIABLES}
    full.update({"PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_PROXY": "127.0.0.1", **env})
    return subprocess.run([sys.executable, "-m", "plait.cli", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    return path


def test_a_missing_key_fails_once_before_any_item_with_the_fix(tmp_path, data):
    store = tmp_path / "runs.db"
    result = _plait("run", PIPELINE, str(data), "--lm", "openai/gpt-4o-mini", "--store", str(store))
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("OPENAI_API_KEY is not set") == 1, result.stderr
    assert "no API key for the LM openai/gpt-4o-mini" in result.stderr
    assert "export OPENAI_API_KEY=" in result.stderr and "--api-base" in result.stderr
    assert not store.exists() or plait.SQLiteStore(store).list_runs() == []  # no run, no failed item


def test_api_base_sends_the_run_to_that_server_and_resume_goes_on_there(tmp_path, data):
    store = tmp_path / "runs.db"
    with OpenAIServer(lambda inputs, fields: {name: f"{name} from the server" for name in fields}) as server:
        result = _plait("run", PIPELINE, str(data), "--lm", "openai/served-model", "--api-base", server.url + "/v1",
                        "--store", str(store), "--json", OPENAI_API_KEY="sk-local")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["results"][0]["outputs"] == {"answer": "answer from the server"}
        # no key check stood in the way: three drafts, and one polish, since the server drafts the same
        # text for every item and the same question asked at once is asked once
        assert len(server.requests) == 4
        config = plait.SQLiteStore(store).get_run(report["run_id"]).config
        assert config["lms"]["lm"]["kwargs"]["api_base"] == server.url + "/v1"  # recorded, so resume finds it
        again = _plait("rerun", "latest", "--from", "pipeline.polish", "--api-base", server.url + "/v1",
                       "--store", str(store), "--json", OPENAI_API_KEY="sk-local")
        assert again.returncode == 0, again.stderr
        assert f"forking with the LM openai/served-model at {server.url}/v1" in again.stderr
        assert len(server.requests) == 7  # the three polish nodes, again (recomputed: never shared)


def test_api_base_without_a_provider_model_says_what_to_name(tmp_path, data):
    result = _plait("run", PIPELINE, str(data), "--lm", "local", "--api-base", "http://localhost:8000/v1",
                    "--store", str(tmp_path / "runs.db"))
    assert result.returncode == 2
    assert "--api-base http://localhost:8000/v1 needs a provider/model --lm" in result.stderr
    assert "--lm openai/llama-3 --api-base http://localhost:8000/v1" in result.stderr


def test_help_says_where_the_key_comes_from():
    result = _plait("run", "--help")
    assert "--api-base URL" in result.stdout and "OPENAI_API_KEY" in result.stdout

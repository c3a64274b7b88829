"""A hosted LM whose API key is missing fails the run once, before any item, with the fix; a run
that needs no call (a finished one, resumed) needs no key."""

from __future__ import annotations

import pytest

import plait
from tests.programs import Chain4, echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(4)]


@pytest.fixture
def no_openai_key(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)


def test_the_error_names_the_variable_the_node_and_the_fix(store_path, no_openai_key):
    with pytest.raises(plait.PlaitError) as info:
        plait.compile(Chain4()).run(ITEMS, store=store_path, lm=plait.DSPyLM("openai/gpt-4o-mini"))
    err = info.value
    assert err.node == "chain4.n1" and "$OPENAI_API_KEY" in err.expected
    assert str(err).startswith("no API key for the LM openai/gpt-4o-mini: $OPENAI_API_KEY is not set")
    assert "export OPENAI_API_KEY=..." in err.fix and "api_key=" in err.fix
    assert plait.SQLiteStore(store_path).list_runs() == []  # no run was started, no item failed


def test_a_key_given_as_an_argument_or_a_server_of_ones_own_needs_no_variable(no_openai_key):
    assert plait.DSPyLM("openai/gpt-4o-mini", api_key="sk-given").missing_keys() == []
    assert plait.DSPyLM("openai/llama-3", api_base="http://localhost:8000/v1").missing_keys() == []
    assert plait.DSPyLM("openai/gpt-4o-mini").missing_keys() == ["OPENAI_API_KEY"]


def test_a_finished_run_resumes_without_a_key(store_path, no_openai_key):
    run = plait.compile(Chain4()).run(ITEMS, store=store_path, lm=plait.ScriptedLM(echo_answer))
    again = plait.resume(run.id, store=store_path, lm=plait.DSPyLM("openai/gpt-4o-mini"))
    assert again.status == "done" and again.stats.lm_calls == 0 and again.outputs == run.outputs

"""Any provider through dspy.LM, end to end: a real client over a real socket to a small
OpenAI-compatible server on 127.0.0.1 (tests/openai_server.py), with no mock of DSPy or LiteLLM.

Both of DSPy's routes are exercised: its native engine ("auto" picks it for openai/...) and
LiteLLM (engine="litellm"), which is what Ollama, Bedrock and the other providers go through.
"""

import os

# Price with the model-cost map bundled with DSPy/LiteLLM instead of fetching it from GitHub.
# Both read this variable when first used, which is after collection, so setting it here is enough.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import asyncio  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Literal  # noqa: E402

import dspy  # noqa: E402
import pytest  # noqa: E402

import plait  # noqa: E402
from plait.checkpoints.layout import usage_dict  # noqa: E402
from plait.lm.dspy_lm import DSPyLM  # noqa: E402
from plait.lm.protocol import LMError, LMRequest  # noqa: E402
from plait.lm.secrets import redact  # noqa: E402
from tests.openai_server import OpenAIServer  # noqa: E402

KEY = "sk-secret-123"
TEXTS = ["one two", "one two three four five", "a b c"]
# DSPy's native engine, and LiteLLM (slow only because importing LiteLLM takes ~5 s, once).
ENGINES = ["auto", pytest.param("litellm", marks=pytest.mark.slow)]


class Measure(plait.Signature):
    """Count the words of the text and say whether it is short or long."""

    text: str = plait.InputField()
    words: int = plait.OutputField()
    size: Literal["short", "long"] = plait.OutputField()


class Verdict(plait.Signature):
    """Double the word count and give a verdict."""

    words: int = plait.InputField()
    size: str = plait.InputField()
    doubled: int = plait.OutputField()
    verdict: Literal["few", "many"] = plait.OutputField()


class Pipeline(plait.Module):
    def __init__(self, verdict_lm=None):
        self.measure = plait.Predict(Measure)
        self.verdict = plait.Predict(Verdict, lm=verdict_lm, temperature=0.5)

    def forward(self, text: str):
        m = self.measure(text=text)
        return self.verdict(words=m.words, size=m.size)


def answer(inputs: dict, fields: list) -> dict:
    """What a perfect model replies to the two signatures above."""
    if "text" in inputs:
        n = len(inputs["text"].split())
        return {"words": n, "size": "short" if n < 4 else "long"}
    if "words" not in inputs:
        return {name: "ok" for name in fields}
    return {"doubled": 2 * int(inputs["words"]), "verdict": "few" if inputs["size"] == "short" else "many"}


EXPECTED = [(4, "few"), (10, "many"), (6, "few")]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server():
    with OpenAIServer(answer) as s:
        yield s


@pytest.fixture
def server_b():
    with OpenAIServer(answer) as s:
        yield s


def lm_for(server, model="openai/test-model", **kwargs) -> DSPyLM:
    return DSPyLM(model, api_base=server.url + "/v1", api_key=KEY, **kwargs)


def items():
    return [{"text": t} for t in TEXTS]


def outputs(run):
    return [(o.doubled, o.verdict) for o in run.outputs]


def models(server):
    return sorted({r.body["model"] for r in server.requests})


# -- the whole path ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("adapter", ["chat", "json"])
def test_a_two_node_pipeline_runs_through_a_real_server(server, tmp_path, adapter, engine):
    lm = lm_for(server, adapter=adapter, engine=engine)
    run = plait.compile(Pipeline()).run(items(), store=tmp_path / "runs.db", lm=lm)
    assert run.status == "done", run.failed
    assert outputs(run) == EXPECTED
    assert isinstance(run.outputs[0].doubled, int)
    assert run.stats.lm_calls == 6 and len(server.requests) == 6
    assert {r.path for r in server.requests} == {"/v1/chat/completions"}
    assert models(server) == ["test-model"]
    prompts = [r.body["messages"][-1]["content"] for r in server.requests]
    assert all(("Respond with a JSON object" in p) == (adapter == "json") for p in prompts)
    # Per-node decoding settings reach the provider.
    verdicts = [r.body for r in server.requests if r.body["messages"][-1]["content"].startswith("[[ ## words ## ]]")]
    assert len(verdicts) == 3 and all(b["temperature"] == 0.5 for b in verdicts)


def test_a_rerun_of_the_same_items_costs_no_call(server, tmp_path):
    compiled = plait.compile(Pipeline())
    compiled.run(items(), store=tmp_path / "runs.db", lm=lm_for(server))
    again = compiled.run(items(), store=tmp_path / "runs.db", lm=lm_for(server))
    assert outputs(again) == EXPECTED and again.stats.lm_calls == 0 and len(server.requests) == 6


# -- which LM a node uses ---------------------------------------------------------------------


def test_configure_context_and_a_module_lm_each_route_to_their_server(server, server_b, tmp_path):
    compiled = plait.compile(Pipeline())
    plait.configure(lm=lm_for(server))
    assert outputs(compiled.run(items(), store=tmp_path / "1.db")) == EXPECTED
    assert len(server.requests) == 6 and server_b.requests == []

    with plait.context(lm=lm_for(server_b)):
        assert outputs(compiled.run(items(), store=tmp_path / "2.db")) == EXPECTED
    assert len(server.requests) == 6 and len(server_b.requests) == 6

    judge = lm_for(server_b, "openai/judge-model")
    run = plait.compile(Pipeline(verdict_lm=judge)).run(items(), store=tmp_path / "3.db")
    assert outputs(run) == EXPECTED
    assert len(server.requests) == 9 and models(server) == ["test-model"]  # measure: the configured LM
    assert len(server_b.requests) == 9 and models(server_b) == ["judge-model", "test-model"]
    assert [r.body["model"] for r in server_b.requests[6:]] == ["judge-model"] * 3


# -- usage and cost ---------------------------------------------------------------------------


def journal_usage(db: Path, run_id: str) -> list[dict]:
    rows = sqlite3.connect(db).execute(
        "SELECT usage FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND source='lm' ORDER BY node_id, item_id", (run_id,)).fetchall()
    return [usage_dict(u) for (u,) in rows]  # the store's compact "prompt,completion,cost" (layout.py)


@pytest.mark.parametrize("engine", ENGINES)
def test_token_usage_is_recorded_per_node_and_summed_per_run(server, tmp_path, engine):
    run = plait.compile(Pipeline()).run(items(), store=tmp_path / "runs.db", lm=lm_for(server, engine=engine))
    usage = journal_usage(tmp_path / "runs.db", run.id)
    assert len(usage) == 6 and all(u["prompt_tokens"] > 0 and u["completion_tokens"] > 0 for u in usage)
    reported = [r.usage for r in server.requests]
    assert sorted(u["prompt_tokens"] for u in usage) == sorted(r["prompt_tokens"] for r in reported)
    assert run.stats.prompt_tokens == sum(u["prompt_tokens"] for u in usage)
    assert run.stats.prompt_tokens == sum(r["prompt_tokens"] for r in reported)
    assert run.stats.completion_tokens == sum(u["completion_tokens"] for u in usage)
    assert run.stats.completion_tokens == sum(r["completion_tokens"] for r in reported)
    # No price is known for "test-model": an unknown cost is None, never 0.
    assert run.stats.cost is None and all(u["cost"] is None for u in usage)


@pytest.mark.parametrize("engine", ENGINES)
def test_cost_is_recorded_when_the_provider_model_is_priced(server, tmp_path, engine):
    lm = lm_for(server, "openai/gpt-4o-mini", engine=engine)
    run = plait.compile(Pipeline()).run(items(), store=tmp_path / "runs.db", lm=lm)
    costs = [u["cost"] for u in journal_usage(tmp_path / "runs.db", run.id)]
    assert len(costs) == 6 and all(c is not None and c > 0 for c in costs)
    assert run.stats.cost == pytest.approx(sum(costs))


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_the_api_key_is_sent_but_stored_logged_and_printed_nowhere(server, tmp_path, all_logs, engine):
    lm = lm_for(server, engine=engine)
    judge = lm_for(server, "openai/judge-model", engine=engine)
    compiled = plait.compile(Pipeline(verdict_lm=judge))
    server.fail(401, message=f"Incorrect API key provided: {KEY}")  # a provider echoing the key
    run = compiled.run(items(), store=tmp_path / "runs.db", lm=lm)
    assert len(run.failed) == 1 and len(run.outputs) == 3
    resumed = plait.resume(run.id, store=tmp_path / "runs.db", lm=lm, lms={judge.name: judge})
    assert resumed.status == "done" and outputs(resumed) == EXPECTED
    compiled.save(tmp_path / "plan.json")

    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}
    files = sorted(tmp_path.glob("runs.db*")) + [tmp_path / "plan.json"]
    assert len(files) >= 2
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path.name
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in all_logs.records)
    assert KEY not in logged
    if engine == "litellm":  # LiteLLM logs every request at DEBUG: the capture did see them
        assert "litellm.acompletion(" in logged
    for shown in (repr(lm), str(lm), json.dumps(lm.identity()), repr(run), str(run.items)):
        assert KEY not in shown
    assert "api_key='***'" in repr(lm)


def test_a_key_echoed_by_the_provider_is_scrubbed_from_the_error(server):
    server.fail(401, message=f"Incorrect API key provided: {KEY}")
    with pytest.raises(LMError) as info:
        call(lm_for(server), REQUEST)
    assert KEY not in str(info.value) and "authentication failed" in str(info.value)


def test_identity_names_model_settings_and_endpoint_but_no_credential(server):
    lm = lm_for(server, temperature=0.2, max_tokens=64, headers={"Authorization": f"Bearer {KEY}"},
                extra_query={"sig": "abc"})
    identity = lm.identity()
    assert identity == {"backend": "dspy", "model": "openai/test-model",
                        "settings": {"temperature": 0.2, "max_tokens": 64}, "api_base": server.url + "/v1"}
    other_key = DSPyLM("openai/test-model", api_base=server.url + "/v1", api_key="sk-other", temperature=0.2,
                       max_tokens=64)
    assert other_key.identity() == identity  # the key never enters a content key
    assert lm.name == "openai/test-model" and lm.max_concurrency == 16 and lm.adapter == "chat"
    assert redact({"api_key": KEY, "max_tokens": 5, "access_token": "t", "headers": {"X-Api-Key": "k"},
                   "api_base": "https://user:pw@host/v1?api-key=zz&x=1"}) == {
        "api_key": "***", "max_tokens": 5, "access_token": "***", "headers": {"X-Api-Key": "***"},
        "api_base": "https://host/v1?api-key=%2A%2A%2A&x=1"}


def test_an_existing_dspy_lm_is_wrapped_without_being_changed(server):
    original = dspy.LM("openai/test-model", api_base=server.url + "/v1", api_key=KEY, temperature=0.1)
    lm = DSPyLM(original, adapter="json")
    assert original.num_retries == 3 and lm.lm.num_retries == 0
    assert lm.identity()["settings"] == {"temperature": 0.1} and lm.name == "openai/test-model"
    assert call(lm, REQUEST).text.startswith("[[ ## a ## ]]")
    assert original.history == [] and KEY not in repr(lm)


# -- errors -----------------------------------------------------------------------------------

REQUEST = LMRequest(messages=[{"role": "user", "content": (
    "[[ ## q ## ]]\nhi\n\nRespond with the corresponding output fields, starting with the field "
    "`[[ ## a ## ]]`, and then ending with the marker for `[[ ## completed ## ]]`.")}])


def call(lm, request):
    return asyncio.run(lm.acall(request))


def test_an_authentication_failure_fails_the_items_and_is_not_transient(server, tmp_path):
    server.fail(401, times=100, message="Incorrect API key provided")
    run = plait.compile(Pipeline()).run(items(), store=tmp_path / "runs.db", lm=lm_for(server))
    assert run.status == "failed" and len(run.failed) == 3
    for item in run.items:
        assert "authentication failed (HTTP 401)" in item.error and "api_key" in item.error
        cause = item.exception.__cause__
        assert isinstance(cause, LMError) and cause.transient is False
    assert len(server.requests) == 3  # num_retries=0: no retry inside DSPy or LiteLLM


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("status, retry_after, transient, says", [
    (429, 7, True, "rate limited"),
    (500, None, True, "server error"),
    (503, 2, True, "server error"),
    (401, None, False, "authentication failed"),
    (403, None, False, "authentication failed"),
    (400, None, False, "bad request"),
])
def test_provider_errors_map_to_lm_error(server, engine, status, retry_after, transient, says):
    server.fail(status, retry_after=retry_after)
    with pytest.raises(LMError) as info:
        call(lm_for(server, engine=engine), REQUEST)
    err = info.value
    assert err.transient is transient and says in str(err) and f"HTTP {status}" in str(err)
    assert err.retry_after == (float(retry_after) if transient and retry_after is not None else None)
    assert len(server.requests) == 1
    assert KEY not in str(err)


@pytest.mark.parametrize("engine", ENGINES)
def test_context_window_exceeded_is_not_transient(server, engine):
    server.fail(400, message="This model's maximum context length is 8192 tokens. However, your messages "
                             "resulted in 9000 tokens.", code="context_length_exceeded")
    with pytest.raises(LMError) as info:
        call(lm_for(server, engine=engine), REQUEST)
    assert info.value.transient is False and "context window" in str(info.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unreachable_server_is_transient(engine):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lm = DSPyLM("openai/test-model", api_base=f"http://127.0.0.1:{port}/v1", api_key=KEY, engine=engine)
    with pytest.raises(LMError) as info:
        call(lm, REQUEST)
    assert info.value.transient is True and KEY not in str(info.value)


def test_a_timeout_is_transient(server):
    server.delay = 0.5
    with pytest.raises(LMError) as info:
        call(lm_for(server, timeout=0.2), REQUEST)
    assert info.value.transient is True and "timed out" in str(info.value)


# -- structured output ------------------------------------------------------------------------

SCHEMA = {"title": "QAOutput", "type": "object", "properties": {"a": {"type": "string"}},
          "required": ["a"], "additionalProperties": False}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_response_schema_is_sent_as_response_format(server, engine):
    request = LMRequest(messages=REQUEST.messages, response_schema=SCHEMA, settings={"max_tokens": 20})
    call(lm_for(server, engine=engine), request)
    body = server.requests[-1].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert 20 in (body.get("max_tokens"), body.get("max_completion_tokens"))
    call(lm_for(server, engine=engine, json_schema=False), request)
    assert "response_format" not in server.requests[-1].body

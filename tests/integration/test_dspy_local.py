"""DSPyLocalLM: DSPy programs on the embedded SmolLM2-135M, with JSON-schema constrained replies."""

from __future__ import annotations

import json
from typing import Literal

import dspy
import pytest

from tests.local_model import require_local_model

local = require_local_model()
from plait.errors import PlaitError  # noqa: E402
from plait.lm.dspy_local import DSPyLocalLM, schema_of  # noqa: E402

pytestmark = [pytest.mark.local_model, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


class Answer(dspy.Signature):
    """Answer the question with one word taken from the fact."""

    question: str = dspy.InputField()
    fact: str = dspy.InputField()
    answer: str = dspy.OutputField(desc="one word")


class Topic(dspy.Signature):
    """Classify the news headline."""

    headline: str = dspy.InputField()
    topic: Literal["sports", "politics", "science", "other"] = dspy.OutputField()
    confidence: int = dspy.OutputField(desc="0 to 100")


@pytest.fixture
def lm():
    return DSPyLocalLM(max_tokens=48)


def test_predict_with_json_adapter_returns_parsed_fields(lm):
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        prediction = dspy.Predict(Answer)(question="Where does Tom live?", fact="Tom lives in Oslo.")
    assert "oslo" in prediction.answer.lower()
    assert lm.history[-1]["kwargs"]["response_format"] is not None  # JSONAdapter asked for the schema


def test_the_schema_is_honoured(lm):
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        prediction = dspy.Predict(Topic)(headline="Local team wins the cup final after extra time")
    assert prediction.topic in ("sports", "politics", "science", "other")
    assert isinstance(prediction.confidence, int)
    reply = json.loads(lm.history[-1]["outputs"][0])
    assert list(reply) == ["topic", "confidence"]  # the grammar fixed the keys and their order


def test_a_json_schema_dict_constrains_the_reply(lm):
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green"]}}, "required": ["colour"],
              "additionalProperties": False}
    outputs = lm(messages=[{"role": "user", "content": "Name a colour."}],
                 response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    assert json.loads(outputs[0])["colour"] in ("red", "green")


def test_usage_is_counted_per_call_and_shared_with_copies(lm):
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        dspy.Predict(Answer)(question="What pet does Ana have?", fact="Ana has a pet cat.")
    copy = lm.copy(temperature=0.0)
    copy(messages=[{"role": "user", "content": "Say hi."}], max_tokens=4)
    assert lm.counter.calls == 2
    assert lm.counter.prompt_tokens > 50 and lm.counter.completion_tokens > 0
    assert lm.history[0]["usage"]["prompt_tokens"] > 50


def test_an_unknown_response_format_is_refused_with_a_fix():
    with pytest.raises(PlaitError) as caught:
        schema_of({"type": "xml"})
    message = str(caught.value)
    assert "response_format" in message and "fix: pass {'type': 'json_schema'" in message

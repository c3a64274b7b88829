"""CompactAdapter: the prompt it builds, the schema it asks for, and how it reads replies."""

from __future__ import annotations

import json
from typing import Literal, Optional

import dspy
import pydantic
import pytest

from plait.lm.compact import CompactAdapter, output_schema


class QA(dspy.Signature):
    """Answer the question with one word."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


class Classify(dspy.Signature):
    """Classify the headline."""

    headline: str = dspy.InputField()
    year: int = dspy.InputField()
    topic: Literal["sports", "politics", "science", "other"] = dspy.OutputField(desc="the section")
    confidence: float = dspy.OutputField()


class Point(pydantic.BaseModel):
    x: int
    y: int = 0


class Shapes(dspy.Signature):
    """List the points."""

    text: str = dspy.InputField()
    points: list[Point] = dspy.OutputField()
    center: Optional[Point] = dspy.OutputField()


DEMOS = ({"question": "Capital of Italy?", "answer": "Rome"}, {"question": "2+2?", "answer": "4"})


def test_zero_shot_messages_are_system_then_user():
    request = CompactAdapter().format(QA, (), {"question": "Capital of France?"})
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert request.messages[0]["content"] == (
        "Answer the question with one word.\nReply with a JSON object with keys: answer."
    )
    assert request.messages[1]["content"] == "question: Capital of France?"


def test_demos_become_user_and_assistant_turns():
    request = CompactAdapter().format(QA, DEMOS, {"question": "Capital of France?"})
    roles = [m["role"] for m in request.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert request.messages[1]["content"] == "question: Capital of Italy?"
    assert json.loads(request.messages[2]["content"]) == {"answer": "Rome"}


def test_inputs_follow_signature_order_and_non_strings_are_json():
    request = CompactAdapter().format(Classify, (), {"year": 2024, "headline": "Team wins cup"})
    assert request.messages[-1]["content"] == "headline: Team wins cup\nyear: 2024"


def test_system_names_keys_with_user_descriptions_only():
    system = CompactAdapter().format(Classify, (), {"headline": "h", "year": 1}).messages[0]["content"]
    assert system.endswith("keys: topic (the section), confidence.")


def test_prefix_is_cached_per_signature_and_demos():
    adapter = CompactAdapter()
    first = adapter.format(QA, DEMOS, {"question": "a"})
    second = adapter.format(QA, tuple(dict(d) for d in DEMOS), {"question": "b"})
    assert first.messages[0] is second.messages[0]
    assert adapter._prefix.cache_info().hits == 1
    adapter.format(QA, DEMOS[:1], {"question": "c"})
    assert adapter._prefix.cache_info().misses == 2


def test_schema_is_closed_and_fully_required():
    schema = CompactAdapter().format(Classify, (), {"headline": "h", "year": 1}).response_schema
    assert schema["required"] == ["topic", "confidence"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["topic"]["enum"] == ["sports", "politics", "science", "other"]
    assert schema["properties"]["confidence"]["type"] == "number"


def test_schema_inlines_refs_and_closes_nested_objects():
    schema = output_schema(Shapes)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    point = schema["properties"]["points"]["items"]
    assert point["required"] == ["x", "y"] and point["additionalProperties"] is False


class Tree(pydantic.BaseModel):
    children: list[Tree] = []


def test_recursive_output_type_is_refused():
    class Grow(dspy.Signature):
        seed: str = dspy.InputField()
        tree: Tree = dspy.OutputField()

    with pytest.raises(ValueError, match="recursive"):
        output_schema(Grow)


@pytest.mark.parametrize(
    "text",
    [
        '{"answer": "Paris"}',
        '  {"answer": "Paris"}\n',
        '```json\n{"answer": "Paris"}\n```',
        '```\n{"answer":"Paris"}```',
    ],
)
def test_parse_tolerates_whitespace_and_fences(text):
    assert CompactAdapter().parse(QA, text) == {"answer": "Paris"}


def test_parse_accepts_raw_newlines_inside_strings():
    assert CompactAdapter().parse(QA, '{"answer": "two\nlines"}') == {"answer": "two\nlines"}


def test_parse_returns_only_output_fields_without_validating():
    parsed = CompactAdapter().parse(Classify, '{"topic": "cooking", "confidence": "high", "x": 1}')
    assert parsed == {"topic": "cooking", "confidence": "high"}


@pytest.mark.parametrize("text", ["Paris", '{"answer": "Par', "[1, 2]", '{"other": 1}'])
def test_parse_raises_value_error_with_raw_text(text):
    with pytest.raises(ValueError) as info:
        CompactAdapter().parse(QA, text)
    assert repr(text) in str(info.value)


def test_format_reply_round_trips_through_parse():
    adapter = CompactAdapter()
    outputs = {"points": [Point(x=1, y=2)], "center": None}
    reply = adapter.format_reply(Shapes, outputs)
    assert adapter.parse(Shapes, reply) == {"points": [{"x": 1, "y": 2}], "center": None}


def test_parsed_reply_validates_with_the_schema_model():
    parsed = CompactAdapter().parse(Classify, '{"topic": "science", "confidence": 0.5}')
    fields = {name: (info.annotation, ...) for name, info in Classify.output_fields.items()}
    model = pydantic.create_model("ClassifyOut", **fields)
    assert model.model_validate(parsed).topic == "science"

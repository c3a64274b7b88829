"""Replies that end: bounded JSON schemas for the embedded model's grammars (plait/lm/bounds.py), and
the fix a parse failure suggests, by its cause and the adapter in use (plait/lm/adapters.py)."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import plait
from plait.lm.adapters import ADAPTERS, reply_fix
from plait.lm.bounds import MIN_CHARS, bounded_schema, worst_case_tokens
from plait.lm.compact import output_schema
from plait.lm.protocol import LMResponse


class Report(plait.Signature):
    """Report on the text."""

    text: str = plait.InputField()
    reasoning: str = plait.OutputField()
    tags: list[str] = plait.OutputField()
    topic: Literal["sports", "other"] = plait.OutputField()
    count: int = plait.OutputField()


def open_parts(node: dict) -> list[dict]:
    """Every string without maxLength (and no enum) and every array without maxItems, anywhere."""
    found = []
    if node.get("type") == "string" and "maxLength" not in node and "enum" not in node:
        found.append(node)
    if node.get("type") == "array" and "maxItems" not in node:
        found.append(node)
    for sub in [*node.get("properties", {}).values(), *([node["items"]] if "items" in node else []),
                *node.get("anyOf", [])]:
        found += open_parts(sub)
    return found


def test_every_open_string_and_array_gets_a_bound_and_enums_stay_as_they_are():
    schema = output_schema(Report)
    bounded = bounded_schema(schema, max_tokens=256)
    assert open_parts(schema) and not open_parts(bounded)
    assert bounded["properties"]["topic"] == schema["properties"]["topic"]
    assert "maxLength" not in schema["properties"]["reasoning"], "the input schema is left untouched"
    # Two string slots share the budget: reasoning and the 8 tags count as 9.
    assert bounded["properties"]["reasoning"]["maxLength"] == bounded["properties"]["tags"]["items"]["maxLength"]


def test_a_bound_the_user_set_is_kept():
    class Short(pydantic.BaseModel):
        word: str = pydantic.Field(max_length=5)
        words: list[str] = pydantic.Field(max_length=3)

    bounded = bounded_schema(Short.model_json_schema(), max_tokens=256)
    assert bounded["properties"]["word"]["maxLength"] == 5 and bounded["properties"]["words"]["maxItems"] == 3


@given(st.integers(min_value=1, max_value=4096), st.integers(min_value=1, max_value=6))
def test_a_string_fits_what_max_tokens_allows_and_always_holds_a_short_answer(max_tokens, fields):
    schema = {"type": "object", "properties": {f"f{i}": {"type": "string"} for i in range(fields)}}
    bounded = bounded_schema(schema, max_tokens)
    chars = [p["maxLength"] for p in bounded["properties"].values()]
    assert min(chars) >= MIN_CHARS and len(set(chars)) == 1
    if chars[0] > MIN_CHARS:  # the budget, not the floor, set it: all strings fit 3 characters a token
        assert sum(chars) <= 3 * max_tokens
    assert worst_case_tokens(bounded) >= sum(chars)


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_a_reply_cut_at_max_tokens_says_so_and_never_suggests_the_adapter_in_use(adapter):
    fix = reply_fix(adapter, "length")
    assert fix.startswith("the reply hit max_tokens before it was complete: raise max_tokens")
    assert f"'{adapter}'" not in fix
    assert "grammar-backed adapter" in fix or adapter not in ("chat",)


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
@pytest.mark.parametrize("finish_reason", ["stop", None])
def test_a_reply_in_the_wrong_format_suggests_the_other_adapters(adapter, finish_reason):
    fix = reply_fix(adapter, finish_reason)
    others = [name for name in ADAPTERS if name != adapter]
    assert fix.startswith(f"use an adapter this LM can follow (adapter='{others[0]}' or '{others[1]}')")
    assert f"'{adapter}'" not in fix and "max_tokens" not in fix


class CutOffLM(plait.ScriptedLM):
    """A scripted LM whose replies stop after 5 characters, as they do at a tiny max_tokens."""

    async def acall(self, request):
        response = await super().acall(request)
        return LMResponse(response.text[:5], response.usage, finish_reason="length")


@pytest.mark.parametrize("adapter", ["chat", "json", "compact"])
def test_a_node_whose_reply_hit_max_tokens_fails_with_that_cause_and_fix(adapter):
    lm = CutOffLM(lambda task: {"answer": "a long answer"}, adapter=adapter)
    compiled = plait.compile(plait.Predict("question -> answer", adapter=adapter))
    run = compiled.run([{"question": "q"}], lm=lm, parse_retries=0, store=False)
    message = str(run.failed[0].error)
    assert "fix: the reply hit max_tokens before it was complete: raise max_tokens" in message
    assert f"'{adapter}'" not in message.split("fix:")[1]


def test_a_node_whose_reply_is_not_the_format_names_other_adapters():
    lm = plait.ScriptedLM(lambda task: "no json here", adapter="compact")
    compiled = plait.compile(plait.Predict("question -> answer", adapter="compact"))
    run = compiled.run([{"question": "q"}], lm=lm, parse_retries=0, store=False)
    fix = str(run.failed[0].error).split("fix:")[1]
    assert fix.startswith(" use an adapter this LM can follow (adapter='chat' or 'json')") and "max_tokens" not in fix

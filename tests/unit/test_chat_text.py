"""plait's fast path for plain-string fields (plait/lm/chat_text.py) against DSPy's ChatAdapter:
the same prompt text and the same parsed fields, or the same refusal, on unkind strings."""

from __future__ import annotations

import dspy
import pytest
from dspy.utils.exceptions import AdapterParseError
from hypothesis import given, settings
from hypothesis import strategies as st

from plait.lm import chat_text
from plait.lm.adapters import ChatAdapter

PLAIN = dspy.Signature("question, context -> answer, reason", "Answer briefly.")
TYPED = dspy.Signature("question -> answer, score: float")
DSPY = dspy.ChatAdapter()

# Any code point, lone surrogates, and the pieces that confuse a section parser.
unkind = st.text(st.characters(codec=None)) | st.sampled_from(
    ["", " ", "\n", "\n\n", "[[ ## answer ## ]]", "  [[ ## reason ## ]] tail", "[[ ## completed ## ]]", "\r\n",
     "\x00", "\ud800", "\udfff", "\u2028", "\x85", "\u3000"])
texts = st.lists(unkind, max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(question=texts, context=texts, give_context=st.booleans())
def test_the_user_message_is_dspys_byte_for_byte(question, context, give_context):
    inputs = {"question": question, **({"context": context} if give_context else {})}
    ours = ChatAdapter().format(PLAIN, (), inputs).messages[-1]["content"]
    assert ours == DSPY.format_user_message_content(PLAIN, inputs, main_request=True)


def test_values_that_are_not_plain_strings_take_dspys_path():
    class Tagged(str):
        pass

    for value in (Tagged("x"), 3, ["a", "b"], {"k": 1}, None):
        assert chat_text.user_message(PLAIN, {"question": value}, "req") is None
        ours = ChatAdapter().format(PLAIN, (), {"question": value}).messages[-1]["content"]
        assert ours == DSPY.format_user_message_content(PLAIN, {"question": value}, main_request=True)


def reply(pieces: list[str]) -> str:
    return "".join(pieces)


sections = st.lists(st.sampled_from(["[[ ## answer ## ]]", "[[ ## reason ## ]]", " [[ ## answer ## ]] x",
                                     "[[ ## other ## ]]", "[[ ## completed ## ]]", "\n"]) | unkind, max_size=10)


def parsed(signature, parse, text: str):
    try:
        return parse(signature, text)
    except AdapterParseError as error:
        return ("refused", type(error))


@settings(max_examples=500, deadline=None)
@given(pieces=sections)
def test_a_reply_parses_as_dspy_parses_it(pieces):
    text = reply(pieces)
    for signature in (PLAIN, TYPED):
        assert parsed(signature, ChatAdapter().parse, text) == parsed(signature, DSPY.parse, text)


@pytest.mark.parametrize("text", [
    "[[ ## answer ## ]]\nParis\n\n[[ ## reason ## ]]\nit is\n\n[[ ## completed ## ]]\n",
    "  [[ ## answer ## ]] Paris\n[[ ## reason ## ]]\n\n[[ ## answer ## ]]\nLyon",
])
def test_the_fast_path_answers_these_itself(text):
    assert chat_text.parse_reply(PLAIN, text) == DSPY.parse(PLAIN, text)


def test_a_reply_missing_a_field_is_left_to_dspys_error():
    assert chat_text.parse_reply(PLAIN, "[[ ## answer ## ]]\nParis") is None
    with pytest.raises(AdapterParseError):
        ChatAdapter().parse(PLAIN, "[[ ## answer ## ]]\nParis")

"""The codec's shortcut for nodes whose outputs are all ``str`` (most LM nodes) gives exactly what
pydantic's validation and the JSON round trip give, on adversarial text: lone surrogates (which
must take the round trip, where a pair can join), control characters, U+FFFD, str subclasses,
extra and missing keys, and values that are not str at all."""

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plait.checkpoints.codec import UnstorableValue, codec_for
from plait.ir.nodes import Field
from tests.values import texts

CODEC = codec_for((Field("answer", str), Field("reason", str)))


class Text(str):
    """A str subclass: pydantic gives back a plain str, so the shortcut must not take it."""


values = st.one_of(texts, texts.map(Text), st.integers(), st.none(), st.lists(texts, max_size=2))
records = st.dictionaries(st.sampled_from(["answer", "reason", "extra"]), values, max_size=3)


def _slow_validate(record):
    try:
        return CODEC.adapter.validate_python(record)
    except ValidationError as exc:
        return type(exc)


def _slow_stored(validated):
    data = CODEC.encode(validated)
    return CODEC.decode(data), data


@settings(max_examples=400, deadline=None)
@given(record=records)
def test_validate_matches_pydantic(record):
    try:
        fast = CODEC.validate(record)
    except ValidationError as exc:
        fast = type(exc)
    slow = _slow_validate(record)
    assert fast == slow
    if isinstance(fast, dict):
        assert list(fast) == list(slow) and all(type(v) is str for v in fast.values())


@settings(max_examples=400, deadline=None)
@given(answer=texts, reason=texts)
def test_stored_matches_the_round_trip(answer, reason):
    validated = CODEC.validate({"answer": answer, "reason": reason})
    try:
        fast = CODEC.stored(validated)
    except UnstorableValue as exc:
        fast = str(exc)
    try:
        slow = _slow_stored(validated)
    except Exception as exc:  # noqa: BLE001 - compared with what stored() says about the same value
        slow = exc
    if isinstance(fast, str):
        assert not isinstance(slow, tuple)
    else:
        assert fast == slow
        assert fast[0] is not validated  # a fresh dict, as decoding gives one


def test_lone_surrogates_take_the_round_trip_where_a_pair_joins():
    value, data = CODEC.stored({"answer": "a\ud83d\ude00", "reason": "\ude00b"})
    assert value == {"answer": "a\U0001f600", "reason": "\ude00b"}  # as resume and the cache will read it
    assert value == CODEC.decode(data)

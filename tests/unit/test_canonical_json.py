"""canonical_json, built once on CPython's C encoder, writes exactly what json.dumps writes with the
same options: every key of every store depends on it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pydantic
from hypothesis import given, strategies as st
from pydantic_core import to_jsonable_python

from plait.hashing import canonical_json


def reference(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=to_jsonable_python)


class Answer(pydantic.BaseModel):
    text: str
    score: float


@dataclass
class Pair:
    left: int
    right: str


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=20)


@given(values)
def test_any_json_value_is_written_as_json_dumps_writes_it(value):
    assert canonical_json(value) == reference(value)


@given(st.text(), st.floats(allow_nan=True), st.integers(), st.text())
def test_models_and_dataclasses_are_written_as_their_data(text, score, left, right):
    value = {"answer": Answer(text=text, score=score), "pair": Pair(left, right), "many": [Pair(left, right)]}
    assert canonical_json(value) == reference(value)


def test_a_lone_surrogate_and_a_nan_are_written_and_the_same_each_time():
    value = {"b": "\ud800", "a": float("nan")}
    assert canonical_json(value) == canonical_json(dict(value)) == '{"a":NaN,"b":"\ud800"}'

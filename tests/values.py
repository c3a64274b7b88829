"""Hypothesis strategies for values of every type a signature or a step can declare, adversarial
ones included (NaN, infinities, -0.0, ints past 2**63, lone surrogates, control characters,
tz-aware datetimes), and a NaN-aware comparison of values and their types."""

from __future__ import annotations

import enum
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Optional

from hypothesis import strategies as st
from pydantic import BaseModel

from plait.checkpoints.codec import is_utf8


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(BaseModel):
    x: float
    label: str
    when: Optional[datetime] = None


class Shape(BaseModel):
    name: str
    points: list[Point]
    weights: dict[str, float]
    color: Color


ODD_TEXT = ["\ud800", "a\udfffb", "\udc00\ud800", "\x00\x1f\x7f", "\u2028\u2029", "😀", "\ufffd", "\\ud800", "null",
            ""]
# Any code point (control characters included), and lone surrogates, which st.characters() and st.text()
# leave out: joined from a list, which keeps them.
with_surrogates = st.lists(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=12).map("".join)
texts = st.one_of(st.text(max_size=12), with_surrogates, st.sampled_from(ODD_TEXT))
EDGE_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308]
floats = st.one_of(st.floats(), st.sampled_from(EDGE_FLOATS))
ints = st.one_of(st.integers(), st.integers(-(2**200), 2**200), st.sampled_from([2**63, -(2**63) - 1, 2**64 + 1]))
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
datetimes = st.datetimes(timezones=st.none() | offsets)
points = st.builds(Point, x=floats, label=texts, when=st.none() | datetimes)
shapes = st.builds(Shape, name=texts, points=st.lists(points, max_size=3),
                   weights=st.dictionaries(texts, floats, max_size=3), color=st.sampled_from(Color))

# (declared type, strategy for its values)
SCALARS: list[tuple[Any, st.SearchStrategy]] = [
    (str, texts), (int, ints), (float, floats), (bool, st.booleans()),
    (Literal["a", "b", 3], st.sampled_from(["a", "b", 3])), (Color, st.sampled_from(Color)),
    (Level, st.sampled_from(Level)), (datetime, datetimes), (Point, points), (Shape, shapes),
]


def _extend(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        inner.map(lambda ts: (list[ts[0]], st.lists(ts[1], max_size=4))),
        inner.map(lambda ts: (dict[str, ts[0]], st.dictionaries(texts, ts[1], max_size=3))),
        inner.map(lambda ts: (Optional[ts[0]], st.none() | ts[1])),
    )


declared_types = st.recursive(st.sampled_from(SCALARS), _extend, max_leaves=3)


def typed_values(max_size: int = 1) -> st.SearchStrategy:
    """(a declared type, a list of values of it)."""
    return declared_types.flatmap(lambda ts: st.tuples(st.just(ts[0]), st.lists(ts[1], min_size=1, max_size=max_size)))


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types; NaN equals NaN, -0.0 differs from 0.0, offsets must match, and
    strings compare with their surrogate pairs joined (see joined())."""
    if type(a) is not type(b):
        return False
    if isinstance(a, str):
        return joined(a) == joined(b)
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, BaseModel):
        return same(a.__dict__, b.__dict__)
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset() and (a.tzinfo is None) == (b.tzinfo is None)
    return a == b


def joined(text: str) -> str:
    """A high and a low surrogate side by side are the character they make: JSON has no other reading
    of the pair (json.loads('"\\ud800\\udc00"') is '\U00010000'). Lone ones stay."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def has_surrogate_key(value: Any) -> bool:
    """Does a dict key, at any depth, hold a lone surrogate (which the store refuses, alone)?"""
    if isinstance(value, BaseModel):
        value = value.__dict__
    if isinstance(value, dict):
        return any(not is_utf8(k) or has_surrogate_key(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_surrogate_key(v) for v in value)
    return False

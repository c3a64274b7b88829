"""Demos of a node whose output is a closed set of labels cover and alternate its labels."""

from __future__ import annotations

import enum
from typing import Literal

from hypothesis import given, strategies as st

import plait
from plait.optimizers.label_balance import balanced, label_fields


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Review(plait.Signature):
    """Classify the review."""

    review: str = plait.InputField()
    sentiment: Literal["positive", "negative"] = plait.OutputField()
    mood: Mood = plait.OutputField()
    sarcastic: bool = plait.OutputField()
    summary: str = plait.OutputField()


def demo(n: int, label: str) -> dict:
    return {"review": f"r{n}", "sentiment": label}


def test_literal_enum_and_bool_outputs_are_labels_and_free_text_is_not():
    assert label_fields(Review) == ["sentiment", "mood", "sarcastic"]


def test_four_demos_of_one_label_give_way_to_a_missing_label_placed_second():
    negatives = [demo(i, "negative") for i in range(4)]
    spares = [demo(9, "negative"), demo(10, "positive"), demo(11, "positive")]
    assert balanced(negatives, spares, ["sentiment"]) == [negatives[0], spares[1], negatives[1], negatives[2]]


def test_free_text_demos_and_a_single_demo_are_kept_as_chosen():
    demos = [demo(i, "same") for i in range(3)]
    assert balanced(demos, [demo(5, "other")], []) == demos
    assert balanced(demos[:1], [demo(5, "other")], ["sentiment"]) == demos[:1]


def test_an_enum_read_back_from_a_trace_and_its_value_in_the_data_are_one_label():
    demos = [{"mood": Mood.HAPPY}, {"mood": Mood.HAPPY}]
    assert balanced(demos, [{"mood": "happy"}], ["mood"]) == demos


labels = st.sampled_from(["a", "b", "c", "d"])
demo_lists = st.lists(labels, max_size=8).map(lambda ls: [demo(i, x) for i, x in enumerate(ls)])


@given(demo_lists, st.lists(labels, max_size=8))
def test_balanced_demos_keep_the_count_cover_what_they_can_and_alternate(demos, spare_labels):
    spares = [demo(100 + i, x) for i, x in enumerate(spare_labels)]
    out = balanced(demos, spares, ["sentiment"])
    assert len(out) == len(demos) and all(d in demos or d in spares for d in out)
    available = {d["sentiment"] for d in demos + spares}
    shown = [d["sentiment"] for d in out]
    assert len(demos) < 2 or len(set(shown)) == min(len(demos), len(available))
    first = shown[:len(set(shown))]
    assert len(set(first)) == len(first)  # one demo of each label before any label repeats
    for label in set(shown):  # each label's demos keep their order
        mine = [d for d in out if d["sentiment"] == label]
        assert mine == sorted(mine, key=lambda d: int(d["review"][1:]))

"""Errors that were plain ValueError/KeyError/TypeError are PlaitErrors that name what was expected,
what was found and the fix (the ValueError ones stay ValueErrors too, for callers that catch those)."""

from __future__ import annotations

import dspy
import pydantic
import pytest

import plait
from plait.checkpoints.null import NullStore
from plait.errors import ReplyFormatError, SettingError
from plait.lm.adapters import adapter_named
from plait.lm.compact import CompactAdapter, output_schema
from tests.programs import Chain4


class QA(dspy.Signature):
    """Answer."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


class Node(pydantic.BaseModel):
    children: list[Node] = []


def test_a_reply_missing_a_field_names_the_field_and_the_raw_text():
    with pytest.raises(ReplyFormatError) as err:
        CompactAdapter().parse(QA, '{"other": 1}')
    assert isinstance(err.value, plait.OutputParseError) and isinstance(err.value, ValueError)
    assert err.value.field == "answer" and err.value.raw == '{"other": 1}'
    assert str(err.value) == (
        "reply lacks output field(s) ['answer']; raw text: '{\"other\": 1}'\n"
        "  at output field 'answer'\n"
        "  expected: a JSON object with keys ['answer']\n"
        "  found:    '{\"other\": 1}'\n"
        "  fix: use an LM that follows JSON-schema constrained decoding, add demos, or use another adapter "
        "(adapter='json' or 'chat')")


@pytest.mark.parametrize("text, what", [("Paris", "reply is not JSON (Expecting value)"),
                                        ("[1, 2]", "reply is JSON but not an object")])
def test_a_reply_that_is_not_a_json_object_says_so(text, what):
    with pytest.raises(ReplyFormatError) as err:
        CompactAdapter().parse(QA, text)
    message = str(err.value)
    assert message.startswith(f"{what}; raw text: {text!r}\n")
    assert "expected: one JSON object with the output fields" in message and f"found:    {text!r}" in message


def test_a_recursive_output_type_is_a_setting_error_with_the_fix():
    class Grow(dspy.Signature):
        seed: str = dspy.InputField()
        tree: Node = dspy.OutputField()

    with pytest.raises(SettingError) as err:
        output_schema(Grow)
    assert isinstance(err.value, ValueError)
    assert str(err.value) == (
        "recursive output type 'Node' cannot be inlined into a JSON schema\n"
        "  expected: an output type without a reference to itself\n"
        "  found:    Node contains Node\n"
        "  fix: give the output a finite nesting, or use adapter='json' or 'chat'")


def test_an_unknown_adapter_name_lists_the_known_ones():
    with pytest.raises(SettingError) as err:
        adapter_named("jsn")
    assert str(err.value) == (
        "unknown adapter 'jsn'\n"
        "  expected: one of ['chat', 'compact', 'json']\n"
        "  found:    'jsn'\n"
        "  fix: name one of plait's adapters: chat, compact, json")


def test_an_unknown_durability_says_what_each_one_survives(tmp_path):
    with pytest.raises(SettingError) as err:
        plait.SQLiteStore(tmp_path / "runs.db", durability="disk")
    message = str(err.value)
    assert message.startswith("durability must be 'process' or 'power'\n")
    assert "found:    'disk'" in message
    assert "fix: durability='process' survives a killed process; 'power' also survives power loss" in message


def test_reading_a_value_from_no_store_is_a_store_error():
    with pytest.raises(plait.StoreError) as err:
        NullStore().read_value("ab" * 32)
    assert str(err.value) == (
        "value abababababab is not in the store: store=False keeps nothing\n"
        "  expected: a value a run recorded\n"
        "  found:    no store\n"
        "  fix: run with a store (store='runs.db') to read its values back")


def test_bootstrap_without_a_metric_is_an_optimizer_error():
    compiled = plait.compile(Chain4())
    with pytest.raises(plait.OptimizerError) as err:
        plait.BootstrapFewShot().compile(compiled, trainset=[{"question": "q"}], metric=None)
    message = str(err.value)
    assert message.startswith("BootstrapFewShot needs a metric to keep only the traces that pass\n")
    assert "found:    metric=None" in message and "fix: compile(..., metric=lambda ex, pred: ...)" in message


def test_a_trainset_item_that_is_not_a_mapping_is_an_input_error():
    with pytest.raises(plait.InputError) as err:
        plait.compile(Chain4(), optimizer=plait.LabeledFewShot(k=2), trainset=["just a string"])
    assert str(err.value) == (
        "an item is a str, not a mapping of fields\n"
        "  expected: a dict like {'question': ...}\n"
        "  found:    'just a string'\n"
        "  fix: make each item a dict (or a dspy.Example / pydantic model) of the pipeline's inputs")

"""A value that cannot be stored, sent or read back fails its one item with a message that names
the node, the field and the fix; other items, other runs and the cache are untouched. And what
input coercion does, lax (pydantic's default) and strict."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone
from typing import Any

import pytest

import plait
from plait.checkpoints.codec import codec_for
from plait.checkpoints.sqlite import SQLiteStore
from plait.errors import InputError, NodeError, StoreError
from plait.checkpoints.layout import key_bytes
from plait.hashing import sha256_hex
from plait.ir.nodes import Field
from tests.values import Color


@plait.step
def wrap(value: str) -> dict:
    return {"kept": value, "thing": object() if value == "opaque" else value}


@plait.step
def halve(x: float) -> float:
    return x / 2


class Wrapping(plait.Module):
    def forward(self, value: str):
        return wrap(value)


class Halving(plait.Module):
    def forward(self, x: float):
        return halve(x)


class Opaque(plait.Module):
    def forward(self, value: Any):
        return {"value": value}


class Summarizing(plait.Module):
    def __init__(self):
        self.summarize = plait.Predict("text -> summary")

    def forward(self, text: str):
        return self.summarize(text=text)


def test_a_step_result_with_no_json_form_fails_that_item_alone(store_path):
    run = plait.compile(Wrapping()).run([{"value": "a"}, {"value": "opaque"}, {"value": "b"}], store=store_path)
    assert [i.status for i in run.items] == ["done", "failed", "done"]
    exc = run.items[1].exception
    assert isinstance(exc, NodeError) and exc.node == "wrapping.wrap" and exc.field == "output"
    message = str(exc)
    assert "the step result of node 'wrapping.wrap' cannot be stored" in message
    assert "Unable to serialize unknown type: <class 'object'>" in message and "test_value_errors.py" in message
    assert "fix: return plain data" in message and "only this node reruns" in message
    row = SQLiteStore(store_path).journal(run.id)[("1", "wrapping.wrap", 0)]
    assert row.status == "failed" and row.value_hash is None  # nothing of it was stored


def test_an_input_with_no_json_form_fails_that_item_alone(store_path):
    run = plait.compile(Opaque()).run([{"value": 1}, {"value": object()}, {"value": {"\ud800": 1}}], store=store_path)
    assert [i.status for i in run.items] == ["done", "failed", "failed"]
    for item, why in zip(run.items[1:], ["Unable to serialize unknown type", "holds a lone surrogate"]):
        assert isinstance(item.exception, InputError) and item.exception.field == "value"
        assert f"item {item.item_id}: field 'value' cannot be stored" in item.error and why in item.error
        assert "fix: pass plain data" in item.error


def test_a_prompt_with_a_lone_surrogate_fails_that_item_alone(store_path, echo_lm):
    texts = ["fine", "scraped \ud800 text", "also fine"]
    run = plait.compile(Summarizing()).run([{"text": t} for t in texts], store=store_path, lm=echo_lm)
    assert [i.status for i in run.items] == ["done", "failed", "done"] and echo_lm.calls == 2
    exc = run.items[1].exception
    assert isinstance(exc, NodeError) and (exc.node, exc.field) == ("summarizing.summarize", "text")
    assert "input 'text' holds a lone surrogate (at character 8)" in str(exc)
    assert "found:    'scraped \\ud800 text'" in str(exc) and "fix: clean the text" in str(exc)
    str(exc).encode("utf-8")  # the message itself can be printed, logged and stored


def _legacy_null(store_path: str, run_id: str, item: str, node: str) -> None:
    """Make a recorded float what plait wrote for NaN before it stored NaN: null."""
    data = b'{"output":null}'
    with sqlite3.connect(store_path) as db:
        db.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (key_bytes(sha256_hex(data)), data))  # schema 7: hashes as bytes
        (old,) = db.execute("SELECT value_hash FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
                            " AND item_id=? AND node_id=?",
                            (run_id, item, node)).fetchone()
        db.execute("UPDATE journal SET value_hash=? WHERE value_hash=?", (key_bytes(sha256_hex(data)), old))
        db.execute("UPDATE cache SET value_hash=? WHERE value_hash=?", (key_bytes(sha256_hex(data)), old))


def test_an_unreadable_recorded_value_fails_its_item_alone_with_the_right_fix(store_path, caplog):
    compiled = plait.compile(Halving())
    first = compiled.run([{"x": 1.0}, {"x": 4.0}], store=store_path)
    _legacy_null(store_path, first.id, "1", "halving.halve")
    resumed = plait.resume(first.id, store=store_path)
    assert [i.status for i in resumed.items] == ["done", "failed"] and resumed.outputs[0].output == 0.5
    exc = resumed.items[1].exception
    assert isinstance(exc, StoreError) and exc.field == "output" and exc.expected == "float"
    assert "the stored output of node 'halving.halve' does not match its declared types" in str(exc)
    assert "how plait stored NaN and infinities" in exc.fix and "plait rerun RUN --from NODE" in exc.fix
    assert "declared types changed" not in str(exc)
    with caplog.at_level(logging.WARNING, logger="plait"):  # another run: the unreadable cache entry is a miss
        again = compiled.run([{"x": 1.0}, {"x": 4.0}], store=store_path)
    assert again.status == "done" and again.outputs[1].output == 2.0 and again.stats.cache_hits == 1
    assert "recomputing node 'halving.halve': its cached value does not read back" in caplog.text
    fork = plait.rerun(first.id, from_node="halving.halve", store=store_path)  # the fix the message gives
    assert fork.status == "done" and fork.outputs[1].output == 2.0


def test_an_unreadable_stored_input_fails_its_item_alone(store_path):
    first = plait.compile(Halving()).run([{"x": 1.0}, {"x": 4.0}], store=store_path)
    data = b'{"x":null}'
    with sqlite3.connect(store_path) as db:
        db.execute("INSERT INTO blobs VALUES (?, ?)", (key_bytes(sha256_hex(data)), data))
        db.execute("UPDATE items SET input_hash=? WHERE item_id='0'", (key_bytes(sha256_hex(data)),))
        db.execute("DELETE FROM journal WHERE item_id='0'")
    resumed = plait.resume(first.id, store=store_path)
    assert [i.status for i in resumed.items] == ["failed", "done"]
    error = resumed.items[0].error
    assert "item 0's input does not match its declared types (x: Input should be a valid number)" in error


def test_decode_errors_say_what_happened():
    codec = codec_for((Field("n", int),))
    with pytest.raises(StoreError, match="is not readable JSON") as damaged:
        codec.decode(b'{"n": 1', "the value")
    assert "the store is damaged" in damaged.value.fix
    with pytest.raises(StoreError, match=r"does not match its declared types \(n: Input should be") as changed:
        codec.decode(b'{"n": "seven"}', "the value")
    assert "declared types changed" in changed.value.fix and changed.value.expected == "int"


# --- input coercion: lax (pydantic's default) and strict -------------------------------------------
class Typed(plait.Module):
    def forward(self, n: int, flag: bool, when: datetime, color: Color, ratio: float):
        return {"n": n, "flag": flag, "when": when, "color": color, "ratio": ratio}


GOOD = {"n": 7, "flag": True, "when": "2024-05-01T12:00:00+00:00", "color": "red", "ratio": 2}


@pytest.mark.parametrize("field, value, lax", [
    ("n", "7", 7), ("n", True, 1), ("n", 7.0, 7), ("flag", 1, True), ("flag", "yes", True), ("ratio", "2.5", 2.5),
])
def test_lax_converts_and_strict_refuses(store_path, field, value, lax):
    compiled = plait.compile(Typed())
    loose = compiled.run([{**GOOD, field: value}], store=store_path)
    assert loose.status == "done" and getattr(loose.outputs[0], field) == lax
    strict = compiled.run([{**GOOD, field: value}], store=store_path, strict=True)
    exc = strict.items[0].exception
    assert isinstance(exc, InputError) and exc.field == field and exc.node == "inputs"
    assert f"field '{field}' has the wrong type" in str(exc) and "strict validation is on" in str(exc)
    assert f"found:    {value!r} ({type(value).__name__})" in str(exc)


def test_strict_takes_each_type_and_its_json_form(store_path):
    when = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    native = {**GOOD, "when": when, "color": Color.RED, "ratio": 2.0}
    run = plait.compile(Typed()).run([GOOD, native], store=store_path, strict=True)
    assert run.status == "done"
    assert all(o.when == when and o.color is Color.RED and o.ratio == 2.0 and o.n == 7 for o in run.outputs)


def test_configure_strict_is_the_default_and_run_overrides_it(store_path):
    plait.configure(strict=True)
    compiled = plait.compile(Typed())
    assert compiled.run([{**GOOD, "n": "7"}], store=store_path).status == "failed"
    assert compiled.run([{**GOOD, "n": "7"}], store=store_path, strict=False).status == "done"


@pytest.mark.parametrize("field, value", [("n", 7.5), ("n", "seven"), ("flag", "maybe")])
def test_lax_still_refuses_what_does_not_convert(store_path, field, value):
    run = plait.compile(Typed()).run([{**GOOD, field: value}], store=store_path)
    assert run.items[0].status == "failed" and f"field '{field}' has the wrong type" in run.items[0].error
    assert "strict validation" not in run.items[0].error


class Texts(plait.Module):
    def forward(self, text: str):
        return {"text": text}


def test_lax_does_not_turn_a_number_into_text(store_path):
    assert plait.compile(Texts()).run([{"text": 7}], store=store_path).status == "failed"


class Counting(plait.Module):
    def __init__(self):
        signature = plait.Signature({"q": (str, plait.InputField()), "n": (int, plait.OutputField())}, "Count.")
        self.count = plait.Predict(signature, adapter="compact")

    def forward(self, q: str):
        return self.count(q=q)


def test_lm_replies_stay_lax_under_strict(store_path):
    lm = plait.ScriptedLM(lambda task: '{"n": "7"}', adapter="compact")
    run = plait.compile(Counting()).run([{"q": "how many?"}], store=store_path, lm=lm, strict=True)
    assert run.status == "done" and run.outputs[0].n == 7


@plait.step
def pair(value: str) -> Any:
    return (value, value)


class Pairing(plait.Module):
    def forward(self, value: str):
        return pair(value)


def test_a_value_typed_any_goes_on_as_its_json_form_live_and_replayed(store_path):
    compiled = plait.compile(Pairing())
    live = compiled.run([{"value": "a"}], store=store_path)
    replayed = plait.resume(live.id, store=store_path)
    assert live.outputs[0].output == replayed.outputs[0].output == ["a", "a"]  # the tuple, as stored: a list

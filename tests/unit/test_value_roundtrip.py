"""DESIGN.md contract 9: every value a node can produce round-trips through the store, NaN, the
infinities and any Unicode string included, or fails alone with a clear error.

Values of every declarable type (tests/values.py) go encode -> a real SQLite store -> decode, and
end to end through runs: recorded, replayed by resume, reused from the cache by a second run.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from plait.checkpoints.codec import UnstorableValue, codec_for
from plait.checkpoints.keys import content_key
from plait.checkpoints.protocol import JournalRow, RunRecord, Source, Status
from plait.checkpoints.sqlite import SQLiteStore
from plait.hashing import sha256_hex
from plait.ir.nodes import Field, Op
from tests.values import floats, has_surrogate_key, same, texts, typed_values

SLOW = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = SQLiteStore(tmp_path_factory.mktemp("values") / "values.db")
    s.create_run(RunRecord("r", s.save_plan("{}"), "running", 1.0, 1.0), [])
    yield s
    s.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=typed_values())
def test_every_declared_value_round_trips_through_a_sqlite_store(store, typed):
    type_, (raw,) = typed
    codec = codec_for((Field("v", type_),))
    value = codec.validate({"v": raw})
    try:
        back, data = codec.stored(value)
    except UnstorableValue as exc:  # the one refusal: a dict key with a lone surrogate
        assert has_surrogate_key(raw) and "lone surrogate" in str(exc) and exc.field == "v"
        return
    key = content_key("fp", "", None, back)  # the run goes on with what the store gives back
    row = JournalRow(run_id="r", item_id="0", node_id=key, content_key=key, value_hash=sha256_hex(data),
                     status=Status.OK, source=Source.STEP)
    store.record(row, data, cache=True, item_status=None)
    read = codec.decode(store.read_value(store.lookup(key)))
    assert same(read["v"], value["v"]) and same(back["v"], value["v"])
    assert content_key("fp", "", None, read) == key  # replay keys downstream nodes as the live run did


@given(a=floats, b=floats, text=texts)
def test_content_keys_are_stable_for_nan_and_surrogates(a, b, text):
    one = content_key("fp", "", None, {"x": a, "t": text})
    assert one == content_key("fp", "", None, {"x": a, "t": text})  # NaN == NaN for replay
    same_value = same(a, b)
    assert (one == content_key("fp", "", None, {"x": b, "t": text})) == same_value


def test_a_surrogate_and_its_escape_text_have_different_keys():
    assert content_key("f", "", None, {"t": "\ud800"}) != content_key("f", "", None, {"t": "\\ud800"})


# --- end to end: record, replay, reuse -------------------------------------------------------------
_STEPS: dict[str, Any] = {}


def echo_pipeline(type_: Any, counter: list[int]):
    """A step and an LM node that both give back a value of ``type_``."""

    def echo(value):
        counter.append(1)
        return value

    # resume imports the steps its stored plan names: give this one a name in this module
    echo.__annotations__ = {"value": type_, "return": type_}
    echo.__qualname__ = echo.__name__ = f"echo_{len(_STEPS)}"
    step = _STEPS[echo.__name__] = plait.step(echo)
    globals()[echo.__name__] = echo

    class Echo(plait.Module):
        def __init__(self):
            sig = plait.Signature({"q": (str, plait.InputField()), "answer": (type_, plait.OutputField())}, "Echo.")
            self.answer = plait.Predict(sig, adapter="compact")

        def forward(self, value, q):
            return {"stepped": step(value), "answered": self.answer(q=q).answer}

    Echo.forward.__annotations__ = {"value": type_, "q": str}
    return plait.compile(Echo())


def scripted_replies(values: list[Any]) -> plait.ScriptedLM:
    """An LM that replies each item's value as JSON text: NaN as NaN, a lone surrogate as its escape."""
    import json

    from pydantic_core import to_jsonable_python

    replies = {f"q{i}": json.dumps({"answer": to_jsonable_python(v)}) for i, v in enumerate(values)
               if not has_surrogate_key(v)}  # such an item fails before its LM node
    return plait.ScriptedLM(lambda task: replies[task.inputs["q"]], adapter="compact")


@SLOW
@given(typed=typed_values(max_size=4))
def test_values_are_recorded_replayed_and_reused_as_equal_values(tmp_path_factory, typed):
    type_, raws = typed
    path, steps = str(tmp_path_factory.mktemp("e2e") / "runs.db"), []
    compiled, lm = echo_pipeline(type_, steps), scripted_replies(raws)
    items = [{"value": v, "q": f"q{i}"} for i, v in enumerate(raws)]
    expected = [codec_for((Field("v", type_),)).validate({"v": v})["v"] for v in raws]
    first = compiled.run(items, store=path, lm=lm, progress=False)
    replayed = plait.resume(first.id, store=path, pipeline=compiled, lm=lm, progress=False)
    reused = compiled.run(items, store=path, lm=lm, progress=False)
    stored = sum(not has_surrogate_key(v) for v in raws)
    assert lm.calls == stored and len(steps) <= stored  # replay and reuse: no call (equal values may share a step)
    for run in (first, replayed, reused):
        for item, raw, value in zip(run.items, raws, expected):
            if has_surrogate_key(raw):  # refused alone, before any node ran
                assert item.status == "failed" and "lone surrogate" in item.error
                continue
            assert item.status == "done", item.error
            assert same(item.outputs.stepped, value) and same(item.outputs.answered, value)
    assert reused.stats.cache_hits == 2 * stored


def test_nan_infinities_and_surrogates_in_one_run(tmp_path):
    """The issue's case: NaN in an item and in a step's result, a lone surrogate in another item; the
    items finish, resume replays them, and a new run of the same pipeline reuses them."""
    steps: list[int] = []
    compiled = echo_pipeline(float, steps)
    values = [1.5, math.nan, -math.inf]
    lm = scripted_replies(values)
    items = [{"value": v, "q": f"q{i}"} for i, v in enumerate(values)]
    path = str(tmp_path / "runs.db")
    first = compiled.run(items, store=path, lm=lm, progress=False)
    assert first.status == "done" and math.isnan(first.outputs[1].stepped) and first.outputs[2].answered == -math.inf
    again = plait.resume(first.id, store=path, pipeline=compiled, lm=lm, progress=False)
    assert again.stats.replayed >= 6 and math.isnan(again.outputs[1].answered)
    reused = compiled.run(items, store=path, lm=lm, progress=False)
    assert reused.stats.cache_hits == 6 and lm.calls == 3 and len(steps) == 3


@pytest.mark.parametrize("text", ["\ud800", "scraped \udfff text", "pair 😀 and lone \udc00"])
def test_a_lone_surrogate_round_trips_through_a_step(tmp_path, text):
    compiled = echo_pipeline(str, [])
    lm = scripted_replies([text])
    path = str(tmp_path / "runs.db")
    first = compiled.run([{"value": text, "q": "q0"}], store=path, lm=lm, progress=False)
    assert first.status == "done" and first.outputs[0].stepped == text and first.outputs[0].answered == text
    assert plait.resume(first.id, store=path, pipeline=compiled, lm=lm, progress=False).outputs[0].stepped == text
    assert compiled.run([{"value": text, "q": "q0"}], store=path, lm=lm, progress=False).stats.cache_hits == 2


@given(value=st.one_of(floats, texts))
@settings(max_examples=50, deadline=None)
def test_item_inputs_are_what_resume_reads_back(value):
    from plait.runtime.items import encoded_items

    input_node = _INPUT_ONLY.plan.of_op(Op.INPUT)[0]
    ((state, blob),) = encoded_items(input_node, [{"value": value}], None)
    stored = codec_for(input_node.outputs).decode(blob)
    assert state.status == "running" and same(state.inputs["value"], stored["value"])


class _Identity(plait.Module):
    def forward(self, value: Any):
        return {"value": value}


_INPUT_ONLY = plait.compile(_Identity())


@plait.step
def gather(text: str, trajectory: list[dict]) -> dict:
    """Each iteration keeps the scraped text and a NaN; two iterations."""
    return {"text": text, "score": math.nan, "done": len(trajectory) >= 1}


class Gathering(plait.Module):
    def forward(self, text: str):
        return {"last": plait.loop(gather, max_iters=3, text=text).last}


def test_loop_entries_keep_lone_surrogates_and_nan(tmp_path):
    path, compiled = str(tmp_path / "runs.db"), plait.compile(Gathering())
    first = compiled.run([{"text": "scraped \ud800"}, {"text": "plain"}], store=path, progress=False)
    assert first.status == "done" and first.outputs[0].last["text"] == "scraped \ud800"
    again = plait.resume(first.id, store=path, progress=False)
    assert again.outputs[0].last["text"] == "scraped \ud800" and math.isnan(again.outputs[0].last["score"])
    reused = compiled.run([{"text": "scraped \ud800"}], store=path, progress=False)
    assert reused.stats.steps == 0 and reused.outputs[0].last["text"] == "scraped \ud800"

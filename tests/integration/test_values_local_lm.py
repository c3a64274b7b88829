"""The embedded model and a lone surrogate: llama.cpp tokenizes UTF-8, which cannot encode one. In a
run, that item fails alone, with the node and the field named; the other items are answered."""

from __future__ import annotations

import pytest

import plait
from plait.lm.compact import CompactAdapter
from plait.lm.protocol import LMError
from tests.local_model import require_local_model

local = require_local_model()

pytestmark = pytest.mark.local_model


class Summarize(plait.Signature):
    """Answer with one word."""

    text: str = plait.InputField()
    word: str = plait.OutputField()


class OneWord(plait.Module):
    def __init__(self):
        self.answer = plait.Predict(Summarize)

    def forward(self, text: str):
        return self.answer(text=text)


def test_a_lone_surrogate_fails_its_item_alone_on_the_real_model(tmp_path):
    lm = plait.LocalLM(max_tokens=32)
    items = [{"text": "The sky is"}, {"text": "scraped \ud800 page"}]
    run = plait.compile(OneWord()).run(items, store=str(tmp_path / "runs.db"), lm=lm, progress=False)
    assert [i.status for i in run.items] == ["done", "failed"] and run.stats.lm_calls == 1, run.items[0].error
    assert isinstance(run.outputs[0].word, str)
    error = run.items[1].exception
    assert (error.node, error.field) == ("one_word.answer", "text") and "holds a lone surrogate" in str(error)


def test_llama_cpp_refuses_a_lone_surrogate_with_a_clear_lm_error():
    """What a direct caller (DSPyLocalLM, a script) gets; and the model stays usable afterwards."""
    lm = plait.LocalLM(max_tokens=4)
    adapter = CompactAdapter()
    bad = adapter.format(Summarize, (), {"text": "a \udfff b"})
    with pytest.raises(LMError, match="the prompt holds a lone surrogate") as refused:
        lm.call(bad)
    assert not refused.value.transient and "clean the text" in str(refused.value)
    good = lm.call(adapter.format(Summarize, (), {"text": "Hello"}))
    assert good.text.startswith("{")

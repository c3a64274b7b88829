"""The embedded model's replies end on their own: open answers (a count) under the compact and json
adapters parse zero-shot, and a reply cut at max_tokens fails with that cause and its fix."""

from __future__ import annotations

from dataclasses import replace

import pytest

import plait
from tests.local_model import require_local_model

local = require_local_model()
from plait.lm.adapters import adapter_named, task_for  # noqa: E402
from plait.lm.protocol import LMRequest  # noqa: E402

pytestmark = pytest.mark.local_model


class Count(plait.Signature):
    """Count how many times the word appears in the list."""

    words: str = plait.InputField()
    word: str = plait.InputField()
    answer: str = plait.OutputField()


# Open answers of the kind bench/embedded_replies.py counts parse failures on.
ITEMS = [{"words": "owl, cat, owl, fox, owl, dog", "word": "owl"}, {"words": "dog, dog, cat, fox", "word": "dog"}]


@pytest.mark.parametrize("adapter_name", ["compact", "json"])
def test_open_answers_end_well_formed_under_the_json_adapters(adapter_name):
    lm, adapter = local.LocalLM(max_tokens=48), adapter_named(adapter_name)
    for inputs in ITEMS:
        request = replace(adapter.format(Count, (), inputs), task=task_for("count", Count, (), inputs))
        response = lm.call(request)
        assert response.finish_reason == "stop", response.text
        assert isinstance(adapter.parse(Count, response.text)["answer"], str)


def test_a_chat_reply_stops_at_dspys_completion_marker():
    lm = local.LocalLM(max_tokens=8)
    request = LMRequest(messages=[{"role": "user", "content": "hi"}], adapter="chat")
    assert lm.options(request)["stop"] == ["[[ ## completed ## ]]"]
    assert "stop" not in lm.options(replace(request, adapter="compact"))
    assert lm.options(replace(request, settings={"stop": ["\n"]}))["stop"] == ["\n"]


def test_a_reply_cut_at_max_tokens_names_the_cause_and_another_adapter(tmp_path):
    compiled = plait.compile(plait.Predict("question -> answer", adapter="chat", max_tokens=3))
    run = compiled.run([{"question": "What is the capital of France?"}], lm=local.LocalLM(), parse_retries=0,
                       store=str(tmp_path / "runs.db"))
    message = str(run.failed[0].error)
    fix = message.split("fix:")[1]
    assert "node 'predict'" in message and "output field 'answer'" in message
    assert fix.startswith(" the reply hit max_tokens before it was complete: raise max_tokens")
    assert "adapter='compact' or adapter='json'" in fix and "'chat'" not in fix

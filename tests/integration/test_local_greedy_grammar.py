"""On the real embedded model: greedy replies under a grammar checked on the model's first choice
only (plait/lm/greedy_grammar.py) are token for token those of llama-cpp-python's own sampler chain."""

from __future__ import annotations

import pytest

from plait.lm.protocol import LMRequest
from tests.local_model import require_local_model

local = require_local_model()
from plait.demo.pipeline import Answer, FindFact  # noqa: E402
from plait.lm.compact import CompactAdapter  # noqa: E402

pytestmark = pytest.mark.local_model

# The first reply token the model prefers is prose here, which the JSON grammar rejects: both the
# accepted path and the fallback over the whole vocabulary run.
PROSE = LMRequest([{"role": "user", "content": "Tell me about Lisbon."}],
                  response_schema={"type": "object", "properties": {"city": {"type": "string"}},
                                   "required": ["city"], "additionalProperties": False})


def _requests() -> list[LMRequest]:
    adapter = CompactAdapter()
    return [PROSE,
            adapter.format(FindFact, (), {"context": "Tom lives in Oslo. Ana lives in Lima.", "person": "Ana"}),
            adapter.format(Answer, (), {"question": "What pet does Leo have?", "fact": "Leo has a pet cat."})]


def _replies(lm, model, greedy_grammar: bool) -> list[str]:
    model.greedy_grammar = greedy_grammar
    try:
        return [lm.call(request).text for request in _requests()]
    finally:
        model.greedy_grammar = True


def test_first_choice_grammar_check_gives_the_chain_replies():
    lm = local.LocalLM(max_tokens=16)
    model = local.load_model(lm.n_ctx, lm.n_threads)
    chain = _replies(lm, model, greedy_grammar=False)
    assert all(text.lstrip().startswith("{") for text in chain), chain
    assert _replies(lm, model, greedy_grammar=True) == chain


def test_only_a_grammar_then_greedy_chain_is_replaced():
    from plait.lm.greedy_grammar import applies

    greedy = {"grammar": object(), "temp": 0.0, "repeat_penalty": 1.0, "frequency_penalty": 0.0,
              "presence_penalty": 0.0, "logits_processor": None}
    assert applies(greedy)
    for change in ({"grammar": None}, {"temp": 0.7}, {"temp": -1.0}, {"repeat_penalty": 1.1},
                   {"frequency_penalty": 0.5}, {"presence_penalty": 0.5}, {"logits_processor": [abs]}):
        assert not applies({**greedy, **change}), change

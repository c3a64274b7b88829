"""On the embedded model, run.stats and run.totals count exactly the llama.cpp generations, the
ones whose reply did not parse included, with the tokens llama.cpp reported for each."""

from __future__ import annotations

import pytest

import plait
from tests.local_model import require_local_model

local = require_local_model()
pytestmark = pytest.mark.local_model


class Capital(plait.Signature):
    """Name the capital city of the country."""

    country: str = plait.InputField()
    capital: str = plait.OutputField(desc="a city")


class Generations:
    """Wraps the loaded model's llama.cpp chat completion: counts its generations and their tokens."""

    def __init__(self, llama, monkeypatch):
        self.inner, self.count, self.prompt_tokens, self.completion_tokens = llama.create_chat_completion, 0, 0, 0
        monkeypatch.setattr(llama, "create_chat_completion", self)

    def __call__(self, **kwargs):
        completion = self.inner(**kwargs)
        self.count += 1
        self.prompt_tokens += completion["usage"]["prompt_tokens"]
        self.completion_tokens += completion["usage"]["completion_tokens"]
        return completion


# 2 tokens: the reply may be cut off and re-asked (the grammar's bound lets LocalLM raise max_tokens so
# that a bounded reply ends, so it often parses): either way every generation is counted
@pytest.mark.parametrize("max_tokens", [24, 2])
def test_stats_count_every_generation_of_the_embedded_model(tmp_path, monkeypatch, max_tokens):
    lm = plait.LocalLM()
    generations = Generations(local.load_model(lm.n_ctx, lm.n_threads).llama, monkeypatch)
    compiled = plait.compile(plait.Predict(Capital, max_tokens=max_tokens))
    run = compiled.run([{"country": "France"}, {"country": "Japan"}], store=str(tmp_path / "r.db"), lm=lm,
                       parse_retries=1, progress=False)
    assert generations.count >= 2
    if generations.count == 2:  # no re-ask: both replies parsed the first time
        assert not run.failed
    for stats in (run.stats, run.totals):
        assert stats.lm_calls == stats.lm_answered == generations.count
        assert (stats.prompt_tokens, stats.completion_tokens) == (generations.prompt_tokens,
                                                                  generations.completion_tokens)
        assert stats.lm_nodes == sum(r.status == "done" for r in run.items) and stats.cost is None

"""A DSPy program compiled by plait and run on the embedded SmolLM2-135M (small: two items)."""

from __future__ import annotations

import dspy
import pytest

import plait
from tests.local_model import require_local_model

local = require_local_model()

pytestmark = [pytest.mark.local_model, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


class NameThenGreet(dspy.Module):
    def __init__(self):
        super().__init__()
        self.extract = dspy.Predict("sentence -> name")
        self.greet = dspy.Predict("name -> greeting")

    def forward(self, sentence: str):
        name = self.extract(sentence=sentence).name
        return self.greet(name=name)


def test_a_two_predictor_dspy_program_runs_on_the_embedded_model(tmp_path):
    compiled = plait.compile(NameThenGreet())
    items = [{"sentence": "My name is Ada."}, {"sentence": "Bob wrote this."}]
    lm = local.LocalLM(max_tokens=24)
    run = compiled.run(items, store=tmp_path / "runs.db", lm=lm, progress=False)
    assert [i.status for i in run.items] == ["done", "done"], [i.error for i in run.items]
    assert all(isinstance(i.outputs.greeting, str) for i in run.items)
    assert run.stats.lm_calls == 4  # two predictors, two items
    again = plait.resume(run.id, store=tmp_path / "runs.db", lm=lm, progress=False)
    assert [dict(i.outputs) for i in again.items] == [dict(i.outputs) for i in run.items]

"""Two nodes that ask the same question share one answer only when the answer is computed, not
sampled (issue 17): at temperature > 0 or n > 1 each call site gets its own sample, and a run's
recorded samples still replay."""

import pytest

import plait
from plait.checkpoints.keys import is_sampled


class Vote(plait.Module):
    """Self-consistency: three samples of one question."""

    def __init__(self, **settings):
        self.voters = [plait.Predict("question -> answer", **settings) for _ in range(3)]

    def forward(self, question: str):
        votes = [voter(question=question).answer for voter in self.voters]
        return {"a": votes[0], "b": votes[1], "c": votes[2]}


def _counting_lm(**identity):
    lm = plait.ScriptedLM(lambda task: {"answer": f"sample {lm.calls}"})
    if identity:
        own = lm.identity()
        lm.identity = lambda: {**own, **identity}
    return lm


def test_deterministic_calls_of_the_same_question_share_one_answer(tmp_path):
    lm = _counting_lm()
    run = plait.compile(Vote()).run([{"question": "q"}], lm=lm, store=str(tmp_path / "runs.db"))
    assert lm.calls == 1 and len({run.outputs[0].a, run.outputs[0].b, run.outputs[0].c}) == 1


@pytest.mark.parametrize("settings, identity", [
    ({"temperature": 0.7}, {}),
    ({"n": 3}, {}),
    ({}, {"temperature": 1.0}),
    ({}, {"settings": {"temperature": 0.5}}),  # as DSPyLM keeps its kwargs
])
def test_sampled_calls_get_one_sample_per_call_site_and_replay(tmp_path, settings, identity):
    lm, store = _counting_lm(**identity), str(tmp_path / "runs.db")
    run = plait.compile(Vote(**settings)).run([{"question": "q"}], lm=lm, store=store)
    out = run.outputs[0]
    assert lm.calls == 3 and len({out.a, out.b, out.c}) == 3
    again = plait.resume(run.id, store=store, lm=lm)
    assert lm.calls == 3 and again.outputs[0] == out


def test_a_node_setting_of_zero_overrides_a_sampling_lm():
    assert not is_sampled({"temperature": 0.0}, {"temperature": 0.9})
    assert is_sampled({}, {"temperature": 0.9}) and not is_sampled({}, {"temperature": 0})
    assert not is_sampled({"n": 1}, {}) and is_sampled({"n": 2}, {})

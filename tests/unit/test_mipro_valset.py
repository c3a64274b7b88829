"""MIPRO's valset: DSPy's split of the trainset when none is given, and an error that names the
fix when it is too small for a minibatch to mean anything."""

import pytest

import plait
from plait.optimizers.mipro import split_valset
from tests.unit.test_optimizer_bootstrap import TRAIN, Reverse, exact


def test_without_a_valset_the_last_80_percent_of_the_trainset_scores_candidates():
    train, val = split_valset(list(range(10)), None, 4)
    assert train == [0, 1] and val == list(range(2, 10))
    assert split_valset([1], None, 1) == ([1], [1])  # one item: it does both


def test_a_valset_smaller_than_a_minibatch_is_an_error_that_says_what_to_do(store_path):
    lm = plait.ScriptedLM(lambda t: {"reversed": t.inputs["word"][::-1]})
    with pytest.raises(plait.errors.OptimizerError) as caught:
        plait.compile(Reverse(), optimizer=plait.MIPRO(minibatch_size=8), trainset=TRAIN, valset=TRAIN[:3],
                      metric=exact, store=store_path, lm=lm, progress=False)
    message = str(caught.value)
    assert "MIPRO's valset has 3 items, fewer than a minibatch (8)" in message
    assert "argument 'valset'" in message and "test_mipro_valset.py:" in message
    assert "minibatch_size=1" in message and lm.calls == 0

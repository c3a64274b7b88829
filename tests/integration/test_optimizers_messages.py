"""What the search optimizers say to a user who got something wrong, and what their progress shows."""

import pytest

import plait
from tests.integration.test_optimizers_fewshot import DEV, TRAIN, Reverse, exact, reverser

OPTIMIZERS = [plait.RandomSearch(), plait.MIPRO(), plait.GEPA(), plait.ProposeInstructions()]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: type(o).__name__)
def test_a_missing_metric_is_named_with_the_line_and_the_fix(optimizer, store_path):
    lm = plait.ScriptedLM(reverser)
    with pytest.raises(plait.OptimizerError) as info:
        plait.compile(Reverse(), optimizer=optimizer, trainset=TRAIN, store=store_path, lm=lm)
    message = str(info.value)
    assert f"{type(optimizer).__name__} needs a metric to compare candidates" in message
    assert "argument 'metric'" in message and "test_optimizers_messages.py:" in message
    assert "found:    metric=None" in message and "fix: pass metric=lambda ex, pred:" in message
    assert lm.calls == 0


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: type(o).__name__)
def test_an_empty_valset_is_refused(optimizer, store_path):
    with pytest.raises(plait.OptimizerError) as info:
        plait.compile(Reverse(), optimizer=optimizer, trainset=TRAIN, valset=[], metric=exact, store=store_path)
    message = str(info.value)
    assert f"{type(optimizer).__name__} got an empty valset" in message and "argument 'valset'" in message
    assert "fix: pass a non-empty valset=" in message


def test_a_missing_trainset_and_a_bad_budget_are_refused(store_path):
    with pytest.raises(plait.OptimizerError, match="RandomSearch needs a trainset") as info:
        plait.compile(Reverse(), optimizer=plait.RandomSearch(), metric=exact, store=store_path)
    assert "fix: pass trainset=" in str(info.value)
    with pytest.raises(plait.OptimizerError) as info:
        plait.compile(Reverse(), optimizer=plait.GEPA(max_trials=0), trainset=TRAIN, metric=exact, store=store_path)
    assert "GEPA's budget max_trials=0 is not a positive whole number" in str(info.value)
    assert "expected: an int >= 1, or None" in str(info.value)


def test_the_progress_bar_counts_trials_best_score_and_lm_calls(store_path, capsys):
    lm = plait.ScriptedLM(reverser)
    plait.compile(Reverse(), optimizer=plait.RandomSearch(num_candidates=2, max_labeled_demos=0), trainset=TRAIN,
                  valset=DEV, metric=exact, store=store_path, lm=lm, progress=True)
    shown = capsys.readouterr().err
    assert "RandomSearch" in shown and "4/4" in shown and "trial" in shown
    assert "best=1.000" in shown and "lm_calls=" in shown
    assert "item/s" not in shown  # the evaluations' own bars are folded into the optimizer's


def test_no_bar_with_progress_false(store_path, capsys):
    lm = plait.ScriptedLM(reverser)
    plait.compile(Reverse(), optimizer=plait.RandomSearch(num_candidates=1), trainset=TRAIN, valset=DEV,
                  metric=exact, store=store_path, lm=lm, progress=False)
    assert "RandomSearch" not in capsys.readouterr().err

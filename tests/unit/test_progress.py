"""Progress bars and quiet mode: the run's progress= wins, then plait.configure / plait.context,
then $PLAIT_PROGRESS, then bars only on a terminal or in Jupyter."""

from __future__ import annotations

import dspy

import plait
from plait.runtime.progress import show_progress
from tests.programs import echo_answer

ITEMS = [{"question": f"q{i}"} for i in range(3)]


def run_and_capture(capsys, **options) -> str:
    compiled = plait.compile(plait.Predict("question -> answer"))
    compiled.run(ITEMS, store=False, lm=plait.ScriptedLM(echo_answer), **options)
    return capsys.readouterr().err


def test_a_bar_counts_items_when_asked(capsys):
    err = run_and_capture(capsys, progress=True)
    assert "plait: 100%" in err and "3/3" in err and "lm=3" in err


def test_no_bar_by_default_off_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("PLAIT_PROGRESS", raising=False)
    assert run_and_capture(capsys) == ""
    assert show_progress(None, 1) is False  # one item never gets a bar


def test_the_environment_turns_bars_on_and_off(capsys, monkeypatch):
    monkeypatch.setenv("PLAIT_PROGRESS", "1")
    assert "3/3" in run_and_capture(capsys)
    monkeypatch.setenv("PLAIT_PROGRESS", "0")
    assert run_and_capture(capsys) == ""
    assert "3/3" in run_and_capture(capsys, progress=True)  # the run's own choice wins


def test_configure_quiet_mode_beats_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("PLAIT_PROGRESS", "1")
    plait.configure(progress=False)
    assert run_and_capture(capsys) == ""
    with plait.context(progress=True):
        assert "3/3" in run_and_capture(capsys)
    assert run_and_capture(capsys) == ""


def test_evaluations_and_optimizations_label_their_bars(capsys):
    compiled = plait.compile(plait.Predict("question -> answer"))
    lm = plait.ScriptedLM(echo_answer)
    plait.evaluate(compiled, ITEMS, lambda ex, pred: True, store=False, lm=lm, progress=True)
    assert "evaluate: 100%" in capsys.readouterr().err
    train = [dspy.Example(question="q", answer="a").with_inputs("question")]
    plait.BootstrapFewShot().compile(compiled, trainset=train, metric=lambda ex, pred: True, store=False, lm=lm,
                                     progress=True)
    assert "BootstrapFewShot: 100%" in capsys.readouterr().err

"""The layers hold (README "Layout"): lint-imports checks the contracts in pyproject.toml, and the
core stays within its size budget (scripts/sz.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import plait
from plait.pipeline import eager

ROOT = Path(__file__).resolve().parents[2]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_each_layer_imports_only_the_layers_below_it():
    done = _run("-c", LINT, "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_the_core_stays_within_its_line_budget():
    done = _run(str(ROOT / "scripts" / "sz.py"))
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "core" in done.stdout and "of a budget of" in done.stdout


def test_an_eager_call_with_no_runner_installed_says_what_to_do(monkeypatch):
    predict = plait.Predict("question -> answer")  # loads the facade, which installs the runner
    monkeypatch.setattr(eager, "_runner", None)  # as if plait.api.compiled had never been imported
    with pytest.raises(plait.PlaitError) as raised:
        predict(question="2 + 2?")
    message = str(raised.value)
    assert "Predict is called outside a traced pipeline" in message
    assert "test_layers.py" in message  # the user's line
    assert "declare modules with plait.Module / plait.Predict" in message

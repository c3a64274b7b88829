"""`plait --help`, `plait runs` and `plait show` start fast: they import neither DSPy, LiteLLM,
llama.cpp, networkx nor Ray, and `import plait` loads nothing until a name is used (issue 15).

What each command imports is checked exactly (it does not depend on the machine's load); the time
is checked with a budget, the median of three fresh processes, measured by Python's own
``-X importtime`` so the interpreter's start-up is left out.
"""

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("dspy", "litellm", "llama_cpp", "networkx", "ray", "openai", "optuna")
BUDGET_S = 0.3

# Runs a command in-process with sys.exit caught, then prints the heavy modules it loaded.
PROBE = """
import sys
from plait.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="plait", standalone_mode=True)
except SystemExit:
    pass
print("LOADED", sorted({m.split(".")[0] for m in sys.modules} & set(%r)))
""" % (HEAVY,)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PLAIT_STORE": str(tmp_path / "runs.db")}


def _loaded(tmp_path: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip().splitlines()[-1]


def _import_seconds(tmp_path: Path, *args: str) -> float:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE, *args], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    rows = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:")]
    top_level = [int(row[1]) for row in rows[1:] if not row[2].startswith("  ")]  # cumulative, in µs
    return sum(top_level) / 1e6


@pytest.fixture
def store(tmp_path):
    import plait
    compiled = plait.compile(plait.Predict("question -> answer"))
    compiled.run([{"question": "2 + 2?"}], store=str(tmp_path / "runs.db"),
                 lm=plait.ScriptedLM(lambda task: {"answer": "4"}))
    return tmp_path


@pytest.mark.parametrize("args", [("--help",), ("runs",), ("show", "latest"), ("runs", "--help")])
def test_the_reading_commands_import_nothing_heavy(store, args):
    assert _loaded(store, *args) == "LOADED []"


def test_import_plait_loads_no_submodule_until_a_name_is_used():
    probe = "import sys, plait; print(sorted(m for m in sys.modules if m.startswith('plait.')))"
    done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['plait._version']", done.stdout + done.stderr


@pytest.mark.parametrize("args", [("--help",), ("runs",), ("show", "latest")])
def test_the_reading_commands_start_within_their_budget(store, args):
    seconds = statistics.median(_import_seconds(store, *args) for _ in range(3))
    assert seconds < BUDGET_S, f"plait {' '.join(args)} spent {seconds:.3f} s importing (budget {BUDGET_S} s)"


def test_the_listed_help_is_each_commands_own():
    import importlib

    from plait.cli import COMMANDS
    for name, (module, short) in COMMANDS.items():
        assert getattr(importlib.import_module(module), name).get_short_help_str(120) == short, name

"""scripts/pip_progress.py turns pip's verbose output into a line per package, per wheel built and
per tenth of the llama.cpp build, and keeps every line in the log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "pip_progress.py"

PIP_OUTPUT = """Collecting dspy<3.5,>=3.4
  Downloading dspy-3.4.0-py3-none-any.whl (300 kB)
Collecting llama-cpp-python<0.4,>=0.3.16
Building wheels for collected packages: llama-cpp-python
  Building wheel for llama-cpp-python (pyproject.toml): started
""" + "".join(f"  [{i}/150] Building C object ggml/src/f{i}.c.o\n" for i in range(1, 151)) + """\
  Building wheel for llama-cpp-python (pyproject.toml): finished with status 'done'
Successfully installed dspy-3.4.0 llama-cpp-python-0.3.36 numpy-2.3.1
"""


def test_progress_is_a_line_per_package_and_per_tenth_of_the_build(tmp_path):
    log = tmp_path / "install.log"
    shown = subprocess.run([sys.executable, str(SCRIPT), str(log)], input=PIP_OUTPUT, capture_output=True,
                           text=True, timeout=60, check=True).stdout.splitlines()
    assert shown[:2] == ["    1 collecting dspy<3.5,>=3.4", "    2 collecting llama-cpp-python<0.4,>=0.3.16"]
    compiling = [line for line in shown if "compiling:" in line]
    assert compiling[0] == "  compiling: 0% (1/150 steps)" and compiling[-1] == "  compiling: 100% (150/150 steps)"
    assert len(compiling) == 11   # 0%, 10%, ... 100%
    assert shown[-1] == "  installed 3 packages"
    assert log.read_text() == PIP_OUTPUT   # pip's whole output, for when something fails

"""In a notebook a node's source is the cell (``In [2], line 3``), not the kernel's temporary file
(``1054704048.py:3``). A real IPython shell runs the cells, with ipykernel's compiler naming them
as a kernel does; no kernel process is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plait.ir.serialize import node_from_json, node_to_json
from plait.ir.source import SourceLoc, notebook_cell

pytest.importorskip("IPython")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).parents[2]

SHELL = r'''
import json, plait
from IPython.core.interactiveshell import InteractiveShell
from ipykernel.compiler import XCachingCompiler

shell = InteractiveShell.instance()
shell.compile = XCachingCompiler()          # cells named /tmp/ipykernel_<pid>/<hash>.py, as in Jupyter
cells = [
    "import plait\nplait.configure(lm=plait.ScriptedLM(lambda task: {'answer': 'x'}))",
    "class QA(plait.Module):\n    def __init__(self):\n        self.answer = plait.Predict('question -> answer')\n"
    "    def forward(self, question: str):\n        return self.answer(question=question)",
    "compiled = plait.compile(QA())",
    "@plait.step\ndef shout(text: str) -> str:\n    return text.upper()\n\n"
    "class Bad(plait.Module):\n    def forward(self, question: str):\n        if question:\n            return shout(text=question)",
    "try:\n    plait.compile(Bad())\nexcept plait.PlaitError as exc:\n    error = str(exc)",
]
for cell in cells:
    result = shell.run_cell(cell, store_history=True)
    result.raise_error()
ns = shell.user_ns
print(json.dumps({"plan": str(ns["compiled"]), "error": ns["error"]}))
'''


def test_a_cell_location_reads_as_the_cell():
    out = subprocess.run([sys.executable, "-c", SHELL], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout.strip().splitlines()[-1])
    assert "qa.answer = predict" in shown["plan"] and "@ In [2], line 5" in shown["plan"], shown["plan"]
    assert "ipykernel" not in shown["plan"] and ".py:" not in shown["plan"]
    assert "In [4], line 7" in shown["error"], shown["error"]


def test_outside_ipython_a_location_is_file_and_line():
    assert notebook_cell(__file__) is None
    assert str(SourceLoc("/work/app/pipeline.py", 12)) == "pipeline.py:12"


def test_the_cell_survives_a_saved_plan():
    import plait

    class QA(plait.Module):
        def __init__(self):
            self.answer = plait.Predict("question -> answer")

        def forward(self, question: str):
            return self.answer(question=question)

    node = next(n for n in plait.compile(QA()).plan.nodes if n.id == "qa.answer")
    in_cell = node.with_(source=SourceLoc("/tmp/ipykernel_7/1054704048.py", 24, cell=3))
    loaded = node_from_json(json.loads(json.dumps(node_to_json(in_cell))))
    assert loaded.source == in_cell.source and str(loaded.source) == "In [3], line 24"
    assert node_from_json(node_to_json(node)).source == node.source   # a plain file: [file, line] as before

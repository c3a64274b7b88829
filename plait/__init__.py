"""plait: LLM pipelines declared like DSPy programs, compiled like a program, executed like a
durable workflow.

Example::

    import plait

    class QA(plait.Module):
        def __init__(self):
            self.answer = plait.ChainOfThought("question -> answer")
        def forward(self, question: str):
            return self.answer(question=question)

    plait.configure(lm=plait.ScriptedLM(lambda task: {"reasoning": "...", "answer": "42"}))
    compiled = plait.compile(QA())
    run = compiled.run([{"question": "6 x 7?"}], store="runs.db")
"""

import importlib as _importlib
import typing as _typing

from plait._version import __version__

# Where each public name lives. ``import plait`` loads none of them: the first use of a name imports
# its module (PEP 562), so the command line and ``plait runs``/``plait show`` start without DSPy,
# LiteLLM or llama.cpp. The layers stay as they are; this only defers when a module is loaded.
_HOME = {
    "answer": "plait.api.answers", "pending": "plait.api.answers",
    "CompiledPipeline": "plait.api.compiled", "compile": "plait.api.compiled",
    "DurableProgram": "plait.api.durable", "durable": "plait.api.durable",
    "open_run": "plait.api.opened",
    "ItemResult": "plait.api.results", "Run": "plait.api.results", "RunStats": "plait.api.results",
    "arerun": "plait.api.resume", "aresume": "plait.api.resume", "rerun": "plait.api.resume", "resume": "plait.api.resume",
    "Question": "plait.checkpoints.asks",
    "SQLiteStore": "plait.checkpoints.sqlite",
    "FakeClock": "plait.clock",
    "AnswerError": "plait.errors", "InputError": "plait.errors", "LeaseHeld": "plait.errors", "NodeError": "plait.errors", "OptimizerError": "plait.errors", "OutputParseError": "plait.errors", "PlaitError": "plait.errors", "PlanError": "plait.errors", "PlanLoadError": "plait.errors", "RetrievalError": "plait.errors", "RunNotFound": "plait.errors", "StoreError": "plait.errors", "TraceError": "plait.errors",
    "configure": "plait.lm.config", "context": "plait.lm.config",
    "DSPyLM": "plait.lm.dspy_lm",
    "Faulty": "plait.lm.faulty",
    "LocalLM": "plait.lm.local",
    "LM": "plait.lm.protocol", "LMBase": "plait.lm.protocol", "LMError": "plait.lm.protocol", "LMRequest": "plait.lm.protocol", "LMResponse": "plait.lm.protocol", "Usage": "plait.lm.protocol",
    "ScriptedLM": "plait.lm.scripted",
    "DurableLM": "plait.optimizers.durable_lm", "durable_lm": "plait.optimizers.durable_lm",
    "Evaluation": "plait.optimizers.evaluate", "Score": "plait.optimizers.evaluate", "evaluate": "plait.optimizers.evaluate",
    "BootstrapFewShot": "plait.optimizers.fewshot", "LabeledFewShot": "plait.optimizers.fewshot",
    "GEPA": "plait.optimizers.gepa",
    "MIPRO": "plait.optimizers.mipro",
    "ProposeInstructions": "plait.optimizers.proposer",
    "RandomSearch": "plait.optimizers.random_search",
    "approve": "plait.pipeline.approval", "ask": "plait.pipeline.approval",
    "HumanInput": "plait.pipeline.human",
    "loop": "plait.pipeline.loop",
    "Module": "plait.pipeline.module",
    "ChainOfThought": "plait.pipeline.predict", "Predict": "plait.pipeline.predict",
    "Prediction": "plait.pipeline.prediction",
    "ReAct": "plait.pipeline.react",
    "Retrieve": "plait.pipeline.retrieve",
    "InputField": "plait.pipeline.signature", "OutputField": "plait.pipeline.signature", "Signature": "plait.pipeline.signature",
    "step": "plait.pipeline.step",
    "events": "plait.runtime.events",
    "CircuitBreaker": "plait.runtime.breaker",
    "Budget": "plait.runtime.budget",
    "RateLimit": "plait.runtime.ratelimit",
    "RayExecutor": "plait.runtime.ray_executor",
    "RetryPolicy": "plait.runtime.retry",
}

_FACADE = "plait.api.compiled"


def __getattr__(name: str) -> _typing.Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'plait' has no attribute {name!r}")
    if home.startswith("plait.pipeline"):
        _importlib.import_module(_FACADE)  # a module called eagerly needs the runner the facade installs
    module = _importlib.import_module(home)
    value = module if home.endswith(f".{name}") and not hasattr(module, name) else getattr(module, name)
    globals()[name] = value  # later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if _typing.TYPE_CHECKING:  # type checkers and IDEs see ordinary imports
    from plait._version import __version__
    from plait.api.answers import answer, pending
    from plait.api.compiled import CompiledPipeline, compile
    from plait.api.durable import DurableProgram, durable
    from plait.api.opened import open_run
    from plait.api.results import ItemResult, Run, RunStats
    from plait.api.resume import arerun, aresume, rerun, resume
    from plait.checkpoints.asks import Question
    from plait.checkpoints.sqlite import SQLiteStore
    from plait.clock import FakeClock
    from plait.errors import (AnswerError, InputError, LeaseHeld, NodeError, OptimizerError, OutputParseError, PlaitError,
                              PlanError, PlanLoadError, RetrievalError, RunNotFound, StoreError, TraceError)
    from plait.lm.config import configure, context
    from plait.lm.dspy_lm import DSPyLM
    from plait.lm.faulty import Faulty
    from plait.lm.local import LocalLM
    from plait.lm.protocol import LM, LMBase, LMError, LMRequest, LMResponse, Usage
    from plait.lm.scripted import ScriptedLM
    from plait.optimizers.durable_lm import DurableLM, durable_lm
    from plait.optimizers.evaluate import Evaluation, Score, evaluate
    from plait.optimizers.fewshot import BootstrapFewShot, LabeledFewShot
    from plait.optimizers.gepa import GEPA
    from plait.optimizers.mipro import MIPRO
    from plait.optimizers.proposer import ProposeInstructions
    from plait.optimizers.random_search import RandomSearch
    from plait.pipeline.approval import approve, ask
    from plait.pipeline.human import HumanInput
    from plait.pipeline.loop import loop
    from plait.pipeline.module import Module
    from plait.pipeline.predict import ChainOfThought, Predict
    from plait.pipeline.prediction import Prediction
    from plait.pipeline.react import ReAct
    from plait.pipeline.retrieve import Retrieve
    from plait.pipeline.signature import InputField, OutputField, Signature
    from plait.pipeline.step import step
    from plait.runtime import events
    from plait.runtime.breaker import CircuitBreaker
    from plait.runtime.budget import Budget
    from plait.runtime.ratelimit import RateLimit
    from plait.runtime.ray_executor import RayExecutor
    from plait.runtime.retry import RetryPolicy


__all__ = [
    "__version__",
    # declaring
    "Signature", "InputField", "OutputField", "Module", "Predict", "ChainOfThought", "step", "Prediction",
    "Retrieve", "ReAct", "loop",
    # compiling and optimizing
    "compile", "CompiledPipeline", "evaluate", "Evaluation", "LabeledFewShot", "BootstrapFewShot",
    "Score", "RandomSearch", "ProposeInstructions", "MIPRO", "GEPA",
    # existing DSPy programs and optimizers, journaled
    "durable", "DurableProgram", "durable_lm", "DurableLM",
    # running
    "Run", "RunStats", "ItemResult", "open_run", "resume", "aresume", "rerun", "arerun", "events", "SQLiteStore", "RayExecutor",
    # people in the loop
    "HumanInput", "ask", "approve", "answer", "pending", "Question",
    # surviving the real world
    "RetryPolicy", "RateLimit", "CircuitBreaker", "Budget", "Faulty", "FakeClock",
    # LMs
    "configure", "context", "LM", "LMBase", "LMRequest", "LMResponse", "LMError", "Usage", "ScriptedLM", "DSPyLM", "LocalLM",
    # errors
    "PlaitError", "TraceError", "PlanError", "PlanLoadError", "StoreError", "NodeError",
    "OutputParseError", "InputError", "RunNotFound", "LeaseHeld", "AnswerError", "RetrievalError",
    "OptimizerError",
]

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

from plait._version import __version__
from plait.api.answers import answer, pending
from plait.api.compiled import CompiledPipeline, compile
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
from plait.lm.protocol import LM, LMError, LMRequest, LMResponse, Usage
from plait.lm.scripted import ScriptedLM
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
    # running
    "Run", "RunStats", "ItemResult", "open_run", "resume", "aresume", "rerun", "arerun", "events", "SQLiteStore", "RayExecutor",
    # people in the loop
    "HumanInput", "ask", "approve", "answer", "pending", "Question",
    # surviving the real world
    "RetryPolicy", "RateLimit", "CircuitBreaker", "Budget", "Faulty", "FakeClock",
    # LMs
    "configure", "context", "LM", "LMRequest", "LMResponse", "LMError", "Usage", "ScriptedLM", "DSPyLM", "LocalLM",
    # errors
    "PlaitError", "TraceError", "PlanError", "PlanLoadError", "StoreError", "NodeError",
    "OutputParseError", "InputError", "RunNotFound", "LeaseHeld", "AnswerError", "RetrievalError",
    "OptimizerError",
]

"""``plait.evaluate``: score a compiled pipeline on a dataset, durably, with a confidence interval.

The evaluation is an ordinary checkpointed run, so repeating it (or resuming it after a crash)
costs no LM call for anything already computed. A failed item scores 0 and keeps its error: one
malformed output never sinks an evaluation.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from plait.api.results import Run
from plait.pipeline.prediction import Prediction

Metric = Callable[..., Any]


@dataclass(frozen=True)
class Score:
    """A metric's score with textual feedback, for optimizers that read why an item failed (GEPA).

    Example::

        def metric(example, pred):
            ok = example["answer"] == pred.answer
            return plait.Score(float(ok), feedback="" if ok else f"expected {example['answer']}")
    """

    score: float
    feedback: str | None = None

    def __float__(self) -> float:
        return float(self.score)


@dataclass(frozen=True)
class ItemScore:
    item_id: str
    score: float
    outputs: Prediction | None
    error: str | None = None
    feedback: str | None = None


@dataclass
class Evaluation:
    """Mean score with a bootstrap confidence interval, and the per-item table.

    Example::

        ev = plait.evaluate(compiled, devset, metric=exact_match, store="runs.db")
        print(ev)            # accuracy 62.0% (95% CI 52.0-71.0%) on 100 items, 3 failed
        ev.score, ev.low, ev.high, ev.items[0]
    """

    score: float
    low: float
    high: float
    items: list[ItemScore]
    run: Run
    confidence: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[ItemScore]:
        return [i for i in self.items if i.error is not None]

    @property
    def lm_calls(self) -> int:
        """LM calls the evaluation run sent, answered or not (re-asks of replies that did not parse
        included), as ``run.totals`` and budgets count them."""
        return self.run.totals.lm_calls

    def overlaps(self, other: Evaluation) -> bool:
        """Whether the two confidence intervals overlap (no clear difference)."""
        return self.low <= other.high and other.low <= self.high

    def table(self) -> list[dict[str, Any]]:
        return [{"item": i.item_id, "score": i.score, "error": i.error, **dict(i.outputs or {})} for i in self.items]

    def __str__(self) -> str:
        pct = f"{self.confidence:.0%}"
        return (f"score {self.score:.1%} ({pct} CI {self.low:.1%}-{self.high:.1%}) on {len(self.items)} items, "
                f"{len(self.failed)} failed, {self.lm_calls} LM calls")

    __repr__ = __str__


def evaluate(compiled: Any, devset: list[Any], metric: Metric, *, store: Any = None, confidence: float = 0.95,
             resamples: int = 2000, seed: int = 0, **run_options: Any) -> Evaluation:
    """Run ``compiled`` over ``devset`` and score every item with ``metric(example, prediction)``.

    ``metric`` may also take a third ``trace`` argument (DSPy's convention; plait passes None).
    It returns a bool, a number, or a score with feedback (:class:`Score`, ``(score, feedback)``,
    ``dspy.Prediction(score=, feedback=)``); a failed item scores 0. Run options are those of
    ``CompiledPipeline.run`` (``lm``, ``concurrency``, ``progress``, ...).
    """
    run = compiled.run(devset, store=store, **{"label": "evaluate", **run_options})
    score_of = _caller(metric)
    items = [_item_score(score_of, ex, r) for ex, r in zip(devset, run.items)]
    scores = np.array([i.score for i in items], dtype=float)
    low, high = bootstrap_interval(scores, confidence, resamples, seed)
    return Evaluation(float(scores.mean()) if len(scores) else 0.0, low, high, items, run, confidence)


def bootstrap_interval(scores: np.ndarray, confidence: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    if len(scores) == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = rng.choice(scores, size=(resamples, len(scores)), replace=True).mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _caller(metric: Metric) -> Callable[[Any, Prediction], Any]:
    try:
        takes_trace = len(inspect.signature(metric).parameters) >= 3
    except (TypeError, ValueError):
        takes_trace = False
    return (lambda ex, pred: metric(ex, pred, None)) if takes_trace else metric


def _item_score(score_of: Callable, example: Any, result: Any) -> ItemScore:
    if result.status != "done":
        return ItemScore(result.item_id, 0.0, None, result.error or result.status)
    try:
        score, feedback = score_and_feedback(score_of(example, result.outputs))
    except Exception as exc:  # a metric bug on one item scores it 0 and says so; the rest still count
        return ItemScore(result.item_id, 0.0, result.outputs, f"the metric raised {type(exc).__name__}: {exc}")
    return ItemScore(result.item_id, score, result.outputs, feedback=feedback)


def score_and_feedback(value: Any) -> tuple[float, str | None]:
    """A metric's return value as (score, feedback): a bool or number, a :class:`Score`, a
    (score, feedback) tuple, a mapping or an object with ``score`` and ``feedback`` (dspy.Prediction)."""
    if isinstance(value, tuple):
        feedback = value[1] if len(value) > 1 else None
    elif isinstance(value, Mapping):
        value, feedback = value["score"], value.get("feedback")
    elif hasattr(value, "score") and not isinstance(value, (bool, int, float)):
        value, feedback = value.score, getattr(value, "feedback", None)
    else:
        feedback = None
    score = value[0] if isinstance(value, tuple) else value
    return float(score), (str(feedback) if feedback else None)

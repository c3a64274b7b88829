"""The typed event stream of a run. Progress bars, logs, stats and tests all consume it.

Pass ``on_event=callback`` to a run; the callback receives each event in order, on the event
loop's thread. It must be quick; it must not raise (an exception in it is logged and dropped so
that a broken progress display never breaks a run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    run_id: str


@dataclass(frozen=True)
class RunStarted(Event):
    """``node_runs``: the node executions the run holds in all (items x the nodes that compute);
    ``recorded``: those its journal already holds (a resume's, a fork's or a named run's replays)."""

    items: int
    nodes: int
    resumed: bool = False
    node_runs: int = 0
    recorded: int = 0


@dataclass(frozen=True)
class NodeStarted(Event):
    item_id: str
    node_id: str


@dataclass(frozen=True)
class NodeFinished(Event):
    """``source``: 'lm' or 'step' (computed now), 'cache' (reused by content key),
    'replay' (this run's journal)."""

    item_id: str
    node_id: str
    source: str
    seconds: float = 0.0
    usage: dict[str, Any] | None = None


@dataclass(frozen=True)
class LMCalled(Event):
    """One request was sent to LM ``lm`` for ``node_id`` and has ended: ``answered`` is False when
    it got no reply (a connection error, a 5xx, a timeout, a cancellation). Every request is an
    LM call, answered or not, as budgets count them; one node may make several (retries, re-asks).
    The tokens and cost are the reply's, as the provider reported them (a reply that does not
    parse cost them too); ``cost`` is None when the provider reported none."""

    item_id: str
    node_id: str
    lm: str
    answered: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


@dataclass(frozen=True)
class LoopIteration(Event):
    """Iteration ``iteration`` (from 1) of LOOP node ``node_id`` is recorded. ``source``: 'lm' or
    'step' (run now), 'replay' (this run's journal), 'cache' (another run's identical iteration)."""

    item_id: str
    node_id: str
    iteration: int
    source: str


@dataclass(frozen=True)
class NodeRetried(Event):
    """Attempt ``attempt`` (counted across resumes) failed transiently; the next one comes after
    ``delay`` seconds."""

    item_id: str
    node_id: str
    attempt: int
    reason: str
    delay: float = 0.0


@dataclass(frozen=True)
class FellBack(Event):
    """The primary LM's breaker is open: this node's call goes to ``fallback``."""

    item_id: str
    node_id: str
    primary: str
    fallback: str


@dataclass(frozen=True)
class BreakerOpened(Event):
    """LM ``lm`` failed ``failures`` times in a row: calls fail fast for ``cooldown`` seconds."""

    lm: str
    failures: int
    cooldown: float


@dataclass(frozen=True)
class BreakerClosed(Event):
    """LM ``lm`` answered again: its breaker lets calls through."""

    lm: str


@dataclass(frozen=True)
class BudgetExhausted(Event):
    """The run reached its budget's ``limit`` ('lm_calls', 'tokens' or 'cost'): no new LM call
    starts, calls in flight finish, and the run stops."""

    limit: str
    used: float
    maximum: float


@dataclass(frozen=True)
class NodeFailed(Event):
    item_id: str
    node_id: str
    error: str


@dataclass(frozen=True)
class ItemFinished(Event):
    item_id: str
    status: str  # 'done', 'failed' or 'waiting'


@dataclass(frozen=True)
class RunFinished(Event):
    """``status``: 'done', 'failed', 'interrupted', 'stopped' (by the budget) or 'waiting'."""

    status: str
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemWaiting(Event):
    """The item reached question ``ask`` of ``node_id`` with no answer yet: it waits, durably,
    for ``plait.answer`` and a resume; the other items go on."""

    item_id: str
    node_id: str
    ask: int
    question: str


@dataclass(frozen=True)
class TrialFinished(Event):
    """An optimizer scored one candidate. ``run_id``: the optimization's id; ``evaluation``: the
    run that scored it; ``lm_calls``: LM calls the optimization has needed so far (counted by
    content key, so a resumed optimization reports what an uninterrupted one would)."""

    optimizer: str
    trial: int
    candidate: str
    score: float
    items: int
    best: float
    lm_calls: int
    evaluation: str = ""


@dataclass(frozen=True)
class OptimizationFinished(Event):
    """An optimizer chose ``chosen`` (score ``best``) after ``trials`` trials and ``lm_calls`` LM calls."""

    optimizer: str
    trials: int
    chosen: str
    best: float
    lm_calls: int

"""Run: the result of running a compiled pipeline over items, and its statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from plait.api import answers
from plait.checkpoints.protocol import Source, Status
from plait.checkpoints.spend import Spend
from plait.display.html import run_graph, run_html
from plait.display.tables import items_frame, nodes_frame
from plait.pipeline.prediction import Prediction
from plait.runtime import events as ev


@dataclass
class RunStats:
    """A run's counts. ``lm_calls``: LM calls, that is requests sent to a provider, answered or
    not (failed attempts and re-asks included: what ``Budget(lm_calls=...)`` limits and
    ``plait show`` prints); ``lm_answered``: those that got a reply; ``lm_nodes``: node executions
    an LM computed (one per node, however many calls it took). Tokens and cost are those of every
    reply, replies that never parsed included; ``cost`` is None when no provider reported one.
    ``retries``: failed attempts that were retried; ``fallbacks``: calls sent to a fallback LM.

    ``run.stats`` counts this invocation, from its events; ``run.totals`` the whole run over every
    invocation (its first run and each resume), from the journal in the store (:meth:`from_summary`).
    """

    lm_calls: int = 0
    lm_answered: int = 0
    lm_nodes: int = 0
    steps: int = 0
    cache_hits: int = 0
    replayed: int = 0
    failed_nodes: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    seconds: float = 0.0
    retries: int = 0
    fallbacks: int = 0
    answers: int = 0  # HumanInput nodes that used a person's (or a deadline's default) answer

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.NodeFinished):
            self._finished(event)
        elif isinstance(event, ev.LMCalled):
            self._spent(Spend(1, int(event.answered), event.prompt_tokens, event.completion_tokens, event.cost))
        elif isinstance(event, ev.NodeFailed):
            self.failed_nodes += 1
        elif isinstance(event, ev.NodeRetried):
            self.retries += 1
        elif isinstance(event, ev.FellBack):
            self.fallbacks += 1

    def _spent(self, spent: Spend) -> None:
        self.lm_calls += spent.requests
        self.lm_answered += spent.answered
        self.prompt_tokens += spent.prompt_tokens
        self.completion_tokens += spent.completion_tokens
        if spent.cost is not None:
            self.cost = (self.cost or 0.0) + spent.cost

    def _finished(self, event: ev.NodeFinished) -> None:
        name = _SOURCE_FIELD.get(event.source)
        if name is not None:
            setattr(self, name, getattr(self, name) + 1)

    @classmethod
    def from_summary(cls, groups: Iterable[tuple[str, str, bool, int, Spend]]) -> RunStats:
        """The run's totals over every invocation, from its journal as the store sums it
        (``Store.journal_summary``): LM calls, tokens and cost as the rows record them
        (checkpoints/spend.py), and the steps recorded, by source. What only an invocation sees
        (``replayed``, ``retries``, ``fallbacks``, ``seconds``) stays 0."""
        stats = cls()
        for source, status, first, count, spent in groups:
            stats._spent(spent)
            name = _SOURCE_FIELD.get(str(source)) if status == Status.OK else None
            if name is not None:
                setattr(stats, name, getattr(stats, name) + count)
            stats.failed_nodes += count if status == Status.FAILED and first and source != Source.INPUT else 0
        return stats

    @property
    def lm_requests(self) -> int:
        """The former name of ``lm_calls``: requests sent, answered or not."""
        return self.lm_calls

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def reused(self) -> int:
        """Node results that cost no call: replayed from the journal or reused by content key."""
        return self.cache_hits + self.replayed

    def as_dict(self) -> dict[str, Any]:
        return ({k: getattr(self, k) for k in self.__dataclass_fields__}
                | {"reused": self.reused, "lm_requests": self.lm_requests})


# Which count a node (or journal row) of each source adds to; a LOOP's row holds nothing of its own
# (its iterations' rows do).
_SOURCE_FIELD = {"lm": "lm_nodes", "step": "steps", "cache": "cache_hits", "replay": "replayed", "human": "answers"}


@dataclass
class ItemResult:
    """One item's fate: ``outputs`` when done, ``error`` (and ``exception`` in this process) when failed."""

    item_id: str
    status: str
    outputs: Prediction | None = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)
    question: Any = field(default=None, repr=False)  # status 'waiting': the Question it waits on


@dataclass
class Run:
    """A finished (or stopped) run. Items keep their order; failed items keep their error.

    ``status``: 'done', 'failed' (some item failed), 'interrupted' (some item did not finish),
    'stopped' (the budget ran out: ``stop_reason`` says which limit; resume with a larger one), or
    'waiting' (some items wait for a person: ``run.pending()``, ``plait.answer``, then resume).
    ``plait.open_run`` gives a stored run read-only (``read_only`` True; its stats folded from the journal).

    Example::

        run = compiled.run(dataset, store="runs.db")
        run.outputs[0].answer, run.failed, run.totals.lm_calls, run.totals.cost   # the whole run
        run.stats.lm_calls                                # this invocation (0 for a resume that replayed all)
        plait.resume(run.id, store="runs.db")
        run.to_pandas(); run.node_table(); run.graph().save("run.svg")   # in Jupyter, `run` displays itself
    """

    id: str
    store: str | None
    status: str
    items: list[ItemResult]  # or, for a run with a store file, a StoredItems (item_view.py) reading them from it
    stats: RunStats
    stop_reason: str | None = None
    totals: RunStats = field(default_factory=RunStats, compare=False)  # over every invocation, from the store
    plan: Any = field(default=None, repr=False, compare=False)  # the Plan it ran: what displays draw
    tally: Any = field(default=None, repr=False, compare=False)  # a NodeTally: per node counts from events
    read_only: bool = False  # opened with plait.open_run: a view of the store, never resumed from this object

    @property
    def outputs(self) -> list[Prediction | None]:
        if isinstance(self.items, list):
            return [r.outputs for r in self.items]
        return self.items.outputs()  # a sequence that reads them from the store as they are used

    @property
    def failed(self) -> list[ItemResult]:
        return self._with_status("failed")

    def _with_status(self, status: str) -> list[ItemResult]:
        """Those items that ended ``status``; not 'done', whose items a store file may hold (item_view.py)."""
        items = self.items if isinstance(self.items, list) else self.items.not_done()
        return [r for r in items if r.status == status]

    def pending(self) -> list[Any]:
        """The questions this run's items wait on, unanswered, as :class:`plait.Question` s (from
        the store, so answers given since are left out)."""
        if self.store in (None, ":none:", ":memory:"):  # no store to read again: what its items waited on when it ended
            return [r.question for r in self._with_status("waiting")]
        return answers.pending(self.id, store=self.store)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ItemResult:
        return self.items[index]

    # --- notebook displays (plait/display) ------------------------------------------------------
    def to_pandas(self) -> Any:
        """One row per item: ``item``, ``status``, ``error`` and a column per output field (needs pandas)."""
        return items_frame(self)

    def node_table(self) -> Any:
        """One row per node: op, LM calls, steps, cache hits, replayed, failed_nodes, retries, tokens, seconds."""
        return nodes_frame(self)

    def graph(self) -> Any:
        """The plan drawn as SVG, each node coloured by its status over the items."""
        return run_graph(self)

    def _repr_html_(self) -> str:
        return run_html(self)

    def __repr__(self) -> str:
        s, waiting = self.stats, len(self._with_status("waiting"))
        done = len(self.items) - len(self.failed) - waiting - len(self._with_status("interrupted"))
        return (f"Run({self.id!r}, status={self.status!r}, items={len(self.items)} ({done} done, "
                f"{len(self.failed)} failed{f', {waiting} waiting' if waiting else ''}), lm_calls={s.lm_calls}, reused={s.reused}, {s.seconds:.2f}s)")

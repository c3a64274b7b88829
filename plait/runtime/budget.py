"""Budgets: a run's ceiling on LM calls, tokens and cost.

An LM call, here as in DESIGN.md's contract 11, is a request sent to an LM, answered or not: a
failed connection, a timeout and a re-ask after a malformed reply each count (``run.stats``
reports them as ``lm_calls``, and the answered ones apart as ``lm_answered``).

The limits are on the run's total, across its resumes: a resumed run starts from what its journal
records (checkpoints/spend.py: every request, and every reply's tokens and cost, as ``run.totals``). When a limit is reached
no new LM call starts; calls in flight finish and are recorded, unfinished items stay unfinished
(not failed), and the run's status is 'stopped'. ``plait.resume(run_id, budget=larger)`` goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from plait.checkpoints.spend import total_spend
from plait.errors import PlaitError
from plait.lm.protocol import Usage


@dataclass(frozen=True)
class Budget:
    """``lm_calls``: requests sent to an LM, answered or not; ``tokens``: prompt plus completion
    tokens; ``cost``: as the provider reports it. Each is the run's total across resumes.

    Example::

        run = compiled.run(items, budget=plait.Budget(lm_calls=1000, cost=2.50))
        run.status          # 'stopped' if a limit was reached; run.stop_reason says which
        plait.resume(run.id, budget=plait.Budget(lm_calls=5000, cost=10.0))
    """

    lm_calls: int | None = None
    tokens: int | None = None
    cost: float | None = None

    def __post_init__(self) -> None:
        for name in ("lm_calls", "tokens", "cost"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value >= 0):
                raise PlaitError(f"Budget: invalid {name}", field=name, expected="a number >= 0, or None",
                                 found=repr(value), fix=f"pass {name}= a non-negative number")


class BudgetReached(Exception):
    """Control flow, not an error: a node did not start its LM call because the budget is spent."""

    def __init__(self, limit: str, used: float, maximum: float) -> None:
        unit, spent = _WORDS[limit]
        super().__init__(f"the run's budget of {maximum:g} {unit} is reached: {used:g} {spent}; "
                         f"resume with a larger plait.Budget({limit}=...) to go on")
        self.limit, self.used, self.maximum = limit, used, maximum


# How a stop message names each limit, and what was spent against it.
_WORDS = {"lm_calls": ("LM calls", "requests sent to an LM, answered or not"),
          "tokens": ("tokens", "tokens used"), "cost": ("in cost", "spent")}


class BudgetMeter:
    """A run's spending against its budget, in this process (plus what the journal recorded)."""

    def __init__(self, budget: Budget, calls: int = 0, tokens: int = 0, cost: float = 0.0) -> None:
        self.budget, self.calls, self.tokens, self.cost = budget, calls, tokens, cost

    def reached(self) -> BudgetReached | None:
        for limit, used in (("lm_calls", self.calls), ("tokens", self.tokens), ("cost", self.cost)):
            maximum = getattr(self.budget, limit)
            if maximum is not None and used >= maximum:
                return BudgetReached(limit, used, maximum)
        return None

    def admit(self) -> None:
        """Count one request about to be sent (whether it will be answered or not), or raise
        :class:`BudgetReached`."""
        if (stop := self.reached()) is not None:
            raise stop
        self.calls += 1

    def charge(self, usage: Usage | None) -> None:
        if usage is not None:
            self.tokens += usage.prompt_tokens + usage.completion_tokens
            self.cost += usage.cost or 0.0


def journal_spending(rows: Iterable[Any]) -> tuple[int, int, float]:
    """(LM calls, tokens, cost) that a run's journal rows record: every request sent, answered or
    not, and every reply's tokens and cost (checkpoints/spend.py, the sum ``run.totals`` shows)."""
    spent = total_spend(rows)
    return spent.requests, spent.tokens, spent.cost or 0.0

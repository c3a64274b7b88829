"""A run's budget and rate limits on Ray: one actor per run owns them, every worker asks it.

Each LM attempt on any worker first asks the run's :class:`RunLimits` actor (one round trip, a
fraction of a millisecond next to a hosted LM's seconds): the actor admits the call against the
run's budget and takes the LM's share of its rate limit, answering how long to wait; after the
answer the worker reports its usage without waiting for a reply. The actor handles one message at
a time, so the budget is exact across workers (never more LM calls than the budget allows) and a
rate limit holds for the whole run, not per worker. A run with no budget and no rate limit has
no such actor and its workers ask nothing.

The actor is named after its run (``plait-limits-<run id>``) and lives as long as the run's
driver: a resume starts a new one from what the journal records as spent.
"""

from __future__ import annotations

import time
from typing import Any

from plait.lm.protocol import Usage
from plait.runtime.budget import Budget, BudgetMeter, BudgetReached
from plait.runtime.clock import REAL_CLOCK, Clock
from plait.runtime.ratelimit import RateLimit


class RunLimits:
    """The state behind a run's gates: its budget (what the journal records as already spent
    counted in) and its LMs' rate limits by LM name. Wrapped in a Ray actor by the driver."""

    def __init__(self, budget: Budget | None, spent: tuple[int, int, float], rate_limits: dict[str, RateLimit]) -> None:
        self.meter = BudgetMeter(budget, *spent) if budget is not None else None
        self.rate_limits = rate_limits

    def enter(self, lm_name: str, estimate: int) -> tuple:
        """('stop', limit, used, maximum) when the budget is spent, else ('go', seconds to wait)."""
        if self.meter is not None:
            try:
                self.meter.admit()
            except BudgetReached as stop:
                return ("stop", stop.limit, stop.used, stop.maximum)
        limit = self.rate_limits.get(lm_name)
        return ("go", limit.reserve(estimate, time.monotonic()) if limit is not None else 0.0)

    def leave(self, lm_name: str, estimate: int, usage: Usage | None) -> None:
        limit = self.rate_limits.get(lm_name)
        if limit is not None:
            limit.settle(estimate, usage)
        if self.meter is not None:
            self.meter.charge(usage)

    def spent(self) -> dict[str, float]:
        """LM calls, tokens and cost counted so far (the journal's share included)."""
        meter = self.meter
        return {"lm_calls": meter.calls, "tokens": meter.tokens, "cost": meter.cost} if meter else {}


class RayGate:
    """A worker's gate (limits.CallGate) that asks the run's RunLimits actor. ``actor``: its
    handle, or None when the run has neither budget nor rate limit; ``limited``: the names of the
    LMs with a rate limit (the others need no round trip unless there is a budget)."""

    def __init__(self, actor: Any, budgeted: bool, limited: frozenset[str], clock: Clock = REAL_CLOCK) -> None:
        self.actor, self.budgeted, self.limited, self.clock = actor, budgeted, limited, clock
        self.stop: BudgetReached | None = None

    def _asks(self, route: Any) -> bool:
        return self.actor is not None and (self.budgeted or route.lm.name in self.limited)

    async def enter(self, route: Any, estimate: int) -> None:
        if not self._asks(route):
            return
        verdict = await self.actor.enter.remote(route.lm.name, estimate)
        if verdict[0] == "stop":
            self.stop = BudgetReached(*verdict[1:])
            raise self.stop
        await self.clock.sleep(verdict[1])

    def leave(self, route: Any, estimate: int, usage: Usage | None) -> None:
        if self._asks(route):
            self.actor.leave.remote(route.lm.name, estimate, usage)  # no reply awaited: the order is kept

    def reached(self) -> BudgetReached | None:
        return self.stop

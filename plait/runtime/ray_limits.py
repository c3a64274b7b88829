"""Budgets and rate limits on Ray: one actor beside each pool of workers owns them, every worker
asks it.

Each LM attempt on any worker first asks the pool's :class:`LimitKeeper` (one round trip, a
fraction of a millisecond next to a hosted LM's seconds): the keeper admits the call against the
run's budget and takes the LM's share of its rate limit, answering how long to wait; after the
answer the worker reports its usage without waiting for a reply. The actor handles one message at
a time, so a budget is exact across workers (never more LM calls than it allows) and a rate limit
holds for the whole run, not per worker. A run with no budget and no rate limit asks nothing.

The keeper holds one :class:`RunLimits` per run on its pool, opened by the driver when the run
starts (from what its journal records as spent: a resume goes on counting) and closed when it ends.
It starts with the pool's workers and ends with them (with the driver, if the driver dies).
"""

from __future__ import annotations

import time
from typing import Any

from plait.clock import REAL_CLOCK, Clock
from plait.lm.protocol import Usage
from plait.runtime.budget import Budget, BudgetMeter, BudgetReached
from plait.runtime.ratelimit import RateLimit


class RunLimits:
    """One run's budget (what its journal records as spent counted in) and its LMs' rate limits,
    by LM name."""

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


class LimitKeeper:
    """The Ray actor behind the gates of one pool: each run's RunLimits, by the run's key."""

    def __init__(self) -> None:
        self.runs: dict[str, RunLimits] = {}

    def open(self, key: str, budget: Budget | None, spent: tuple[int, int, float],
             rate_limits: dict[str, RateLimit]) -> None:
        self.runs[key] = RunLimits(budget, spent, rate_limits)

    def close(self, key: str) -> dict[str, float]:
        """Forget the run; what it spent."""
        limits = self.runs.pop(key, None)
        return limits.spent() if limits is not None else {}

    def enter(self, key: str, lm_name: str, estimate: int) -> tuple:
        return self.runs[key].enter(lm_name, estimate)

    def leave(self, key: str, lm_name: str, estimate: int, usage: Usage | None) -> None:
        if key in self.runs:  # a report that arrives after its run ended changes nothing
            self.runs[key].leave(lm_name, estimate, usage)


class RayGate:
    """A worker's gate (limits.CallGate) that asks the pool's LimitKeeper about run ``key``.
    ``budgeted``: the run has a budget; ``limited``: the names of its LMs with a rate limit (the
    others need no round trip unless there is a budget)."""

    def __init__(self, keeper: Any, key: str, budgeted: bool, limited: frozenset[str],
                 clock: Clock = REAL_CLOCK) -> None:
        self.keeper, self.key, self.budgeted, self.limited, self.clock = keeper, key, budgeted, limited, clock
        self.stop: BudgetReached | None = None

    def _asks(self, route: Any) -> bool:
        return self.budgeted or route.lm.name in self.limited

    async def enter(self, route: Any, estimate: int) -> None:
        if not self._asks(route):
            return
        verdict = await self.keeper.enter.remote(self.key, route.lm.name, estimate)
        if verdict[0] == "stop":
            self.stop = BudgetReached(*verdict[1:])
            raise self.stop
        await self.clock.sleep(verdict[1])

    def leave(self, route: Any, estimate: int, usage: Usage | None) -> None:
        if self._asks(route):
            self.keeper.leave.remote(self.key, route.lm.name, estimate, usage)  # no reply awaited; order is kept

    def reached(self) -> BudgetReached | None:
        return self.stop

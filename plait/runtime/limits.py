"""What an LM call asks before it starts and reports after it ends: the run's budget and the rate
limit of the LM it calls. One small interface, two homes for the state behind it:

- :class:`LocalGate` keeps them in this process: the run's :class:`BudgetMeter` and the route's
  own :class:`RateLimit` (shared by every run of the process that calls that LM object).
- on Ray (``plait/runtime/ray_limits.py``) one actor beside the workers owns them, and every
  worker's gate asks it, so that a budget and a rate limit hold for the whole run, not per worker.

The executor never sees the difference: :class:`plait.runtime.calls.LMCaller` awaits
``enter`` before each attempt and calls ``leave`` after each answer.
"""

from __future__ import annotations

from typing import Any, Protocol

from plait.clock import REAL_CLOCK, Clock
from plait.lm.protocol import Usage
from plait.runtime.budget import BudgetMeter, BudgetReached


class CallGate(Protocol):
    async def enter(self, route: Any, estimate: int) -> None:
        """Admit one attempt on ``route`` (raise BudgetReached if the budget is spent), then wait
        until its rate limit lets ``estimate`` tokens through."""

    def leave(self, route: Any, estimate: int, usage: Usage | None) -> None:
        """Charge the answered attempt's usage and correct the token estimate."""

    def reached(self) -> BudgetReached | None:
        """The budget's stop, if this gate knows it is spent (no round trip: a hint for retries)."""


class LocalGate:
    """The budget (``meter``, or None) and the routes' rate limits, in this process."""

    def __init__(self, meter: BudgetMeter | None = None, clock: Clock = REAL_CLOCK) -> None:
        self.meter, self.clock = meter, clock

    async def enter(self, route: Any, estimate: int) -> None:
        if self.meter is not None:
            self.meter.admit()
        if route.limiter is not None:
            await self.clock.sleep(route.limiter.reserve(estimate, self.clock.now()))

    def leave(self, route: Any, estimate: int, usage: Usage | None) -> None:
        if route.limiter is not None:
            route.limiter.settle(estimate, usage)
        if self.meter is not None:
            self.meter.charge(usage)

    def reached(self) -> BudgetReached | None:
        return self.meter.reached() if self.meter is not None else None

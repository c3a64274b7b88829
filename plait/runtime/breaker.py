"""Circuit breakers: stop calling an LM that keeps failing, probe it after a cool-down.

States: *closed* (calls go through; consecutive transient failures are counted), *open* (after
``failures`` of them in a row: calls fail fast, without reaching the provider, for ``cooldown``
seconds), *half-open* (the cool-down is over: exactly one call, the probe, goes through; its
success closes the breaker, its failure opens it again). An answer that is not a transient
failure (even a refused request) proves the provider is up and counts as a success.

A breaker is state shared by everything that calls its LM in the process, so it belongs to the
LM: ``lm.breaker = CircuitBreaker(...)``. Times come from the caller's clock.
"""

from __future__ import annotations

import threading
from typing import Any

from plait.errors import PlaitError
from plait.lm.protocol import LMError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitOpen(LMError):
    """A call refused by an open breaker; transient, with the seconds until the next probe."""


class CircuitBreaker:
    """Example::

        lm.breaker = plait.CircuitBreaker(failures=5, cooldown=30)
        compiled.run(items, fallbacks={lm.name: [backup_lm]})   # used while lm's breaker is open
    """

    def __init__(self, failures: int = 5, cooldown: float = 30.0) -> None:
        if not (isinstance(failures, int) and failures >= 1) or not cooldown >= 0:
            raise PlaitError("CircuitBreaker: invalid settings", expected="failures >= 1 and cooldown >= 0",
                             found=f"failures={failures!r}, cooldown={cooldown!r}",
                             fix="pass failures= a positive int and cooldown= seconds")
        self.failures, self.cooldown = failures, cooldown
        self.state, self.streak, self.opened_at = CLOSED, 0, 0.0
        self._probing = False
        self._lock = threading.Lock()

    # Sent to another process (a Ray worker) it arrives with its state and a lock of its own.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def acquire(self, now: float) -> bool:
        """May a call go through now? In half-open state only the first caller (the probe) may."""
        with self._lock:
            if self.state == OPEN and now - self.opened_at >= self.cooldown:
                self.state, self._probing = HALF_OPEN, False
            if self.state == CLOSED:
                return True
            if self.state == HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def record(self, ok: bool, now: float) -> str | None:
        """The outcome of a call that went through; the new state if it changed."""
        with self._lock:
            before = self.state
            if ok:
                self.state, self.streak, self._probing = CLOSED, 0, False
            else:
                self.streak += 1
                if self.state == HALF_OPEN or self.streak >= self.failures:
                    self.state, self.opened_at, self._probing = OPEN, now, False
            return self.state if self.state != before else None

    def abandon(self) -> None:
        """A probe that ended without an answer (cancelled): let the next caller probe."""
        with self._lock:
            self._probing = False

    def retry_in(self, now: float) -> float | None:
        """Seconds until the next probe may go through (None: one is in flight now)."""
        if self.state == OPEN:
            return max(0.0, self.cooldown - (now - self.opened_at))
        return None

    def refusal(self, lm_name: str, now: float) -> CircuitOpen:
        wait = self.retry_in(now)
        when = f"the next probe in {wait:.3g} s" if wait is not None else "a probe call is in flight"
        return CircuitOpen(f"circuit breaker of LM '{lm_name}' is open after {self.streak} consecutive "
                           f"transient failures; {when}", transient=True, retry_after=wait)

    def __repr__(self) -> str:
        return f"CircuitBreaker(failures={self.failures}, cooldown={self.cooldown:g}, state={self.state!r})"


# Kept on the LM object itself: no registry outlives or confuses its LMs (an id() can be reused).
_DEFAULT_ATTR = "_plait_default_breaker"


def default_breaker(lm: Any) -> CircuitBreaker:
    """The breaker of an LM that names fallbacks but has none of its own: one per LM object, kept
    on it, so every run of that LM in the process shares it. An LM object that cannot hold an
    attribute (``__slots__``) gets a fresh one, which then lives as long as the run that asked."""
    try:
        return vars(lm).setdefault(_DEFAULT_ATTR, CircuitBreaker())
    except (TypeError, AttributeError):  # no __dict__, or a read-only one
        return CircuitBreaker()

"""Retry policies: which LM errors are retried, how often, and how long to wait in between."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Callable

from plait.errors import PlaitError


def is_transient(error: BaseException) -> bool:
    """Retrying may help: an ``LMError`` marked transient (rate limit, 5xx, connection, timeout,
    as plait's backends classify provider errors), or a timeout or connection error."""
    if isinstance(error, (TimeoutError, asyncio.TimeoutError, ConnectionError)):
        return True
    return bool(getattr(error, "transient", False))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for transient LM errors.

    Attempt ``n`` (1-based) that fails transiently is followed by a sleep drawn uniformly from
    ``[0, min(maximum, initial * coefficient ** (n - 1))]`` (``jitter="none"``: exactly the upper
    bound), never shorter than the provider's Retry-After. At most ``max_attempts`` attempts are
    made per node and run, counted across crashes and resumes: the journal keeps the count.
    ``retry_on`` decides which errors are retried (default: :func:`is_transient`, so rate limits,
    timeouts, 5xx and connection errors retry; authentication, bad requests and a prompt too long
    for the context window never do). A tuple of exception classes adds those to the default.

    Example::

        lm.retry = plait.RetryPolicy(initial=0.5, maximum=30, max_attempts=8)    # this LM's default
        compiled.run(items, retry=plait.RetryPolicy(max_attempts=3))             # the run's default
        compiled.run(items, retry={"pipeline.summarize": plait.RetryPolicy(max_attempts=10)})
    """

    initial: float = 1.0
    coefficient: float = 2.0
    maximum: float = 60.0
    max_attempts: int = 6
    retry_on: Callable[[BaseException], bool] | tuple[type[BaseException], ...] = is_transient
    jitter: str = "full"

    def __post_init__(self) -> None:
        checks = [("initial", self.initial >= 0, "a number >= 0"),
                  ("coefficient", self.coefficient >= 1, "a number >= 1"),
                  ("maximum", self.maximum >= self.initial, f"a number >= initial ({self.initial:g})"),
                  ("max_attempts", isinstance(self.max_attempts, int) and self.max_attempts >= 1, "an int >= 1"),
                  ("jitter", self.jitter in ("full", "none"), "'full' or 'none'")]
        for name, ok, expected in checks:
            if not ok:
                raise PlaitError(f"RetryPolicy: invalid {name}", field=name, expected=expected,
                                 found=repr(getattr(self, name)), fix=f"pass {name}= {expected}")

    def retries(self, error: BaseException) -> bool:
        """Whether ``error`` may be retried (attempts left aside)."""
        if isinstance(self.retry_on, tuple):
            return isinstance(error, self.retry_on) or is_transient(error)
        return bool(self.retry_on(error))

    def cap(self, attempt: int) -> float:
        """The longest backoff after failed attempt ``attempt`` (1-based), Retry-After aside."""
        return min(self.maximum, self.initial * self.coefficient ** max(0, attempt - 1))

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt``: full jitter, at least ``retry_after``."""
        cap = self.cap(attempt)
        wait = rng.uniform(0.0, cap) if self.jitter == "full" else cap
        return max(wait, retry_after or 0.0)

    def describe(self) -> str:
        return (f"RetryPolicy(initial={self.initial:g}, coefficient={self.coefficient:g}, "
                f"maximum={self.maximum:g}, max_attempts={self.max_attempts})")


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)

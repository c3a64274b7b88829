"""What LM requests cost, as the journal keeps it: the one definition of an LM call (DESIGN.md,
contract 11) that stats, displays, the CLI, budgets, evaluations and benches all count.

An LM call is a request sent to a provider, answered or not: a connection error, a timeout and a
re-ask after a reply that did not parse each count. ``answered`` counts those that got a reply.
Tokens and cost are those of every reply, including replies that never parsed. A breaker that
refuses an attempt sends nothing, so that attempt is not a call.

Each journal row holds the spend its step added in one write. Rows of one step add up (a
'retrying' row, then the final one), so a run's totals are the sum over its rows. Because
they come from the store, they are right after a crash and across every resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class Spend:
    """``requests``: LM requests sent, answered or not; ``answered``: those that got a reply;
    ``prompt_tokens``, ``completion_tokens``: of every reply; ``cost``: the sum of what providers
    reported, None while none reported one."""

    requests: int = 0
    answered: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.requests + other.requests, self.answered + other.answered,
                     self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     _plus(self.cost, other.cost))

    def __sub__(self, other: Spend) -> Spend:
        """What was added since ``other`` (an earlier value of the same running total)."""
        cost = None if self.cost is None else self.cost - (other.cost or 0.0)
        return Spend(self.requests - other.requests, self.answered - other.answered,
                     self.prompt_tokens - other.prompt_tokens, self.completion_tokens - other.completion_tokens, cost)

    @classmethod
    def reply(cls, prompt_tokens: int = 0, completion_tokens: int = 0, cost: float | None = None) -> Spend:
        """One answered request."""
        return cls(1, 1, prompt_tokens, completion_tokens, cost)


NO_REPLY = Spend(requests=1)  # one request that got no reply


def _plus(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


def cost_text(cost: float | None) -> str:
    """A cost as displays and the CLI print it: '-' when no provider reported one (unknown is not 0)."""
    return "-" if cost is None else f"{cost:.4f}"


def total_spend(rows: Iterable[Any]) -> Spend:
    """The sum of the journal rows' spend: a run's totals over all its invocations."""
    total = Spend()
    for row in rows:
        total = total + row.spent
    return total

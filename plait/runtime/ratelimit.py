"""Rate limits per LM: token buckets for requests and tokens per minute.

A bucket refills continuously and may go into debt: each call takes its share at once and waits
until the debt it leaves is paid off, so calls are served in the order they asked and nothing
needs a lock across an ``await``. One :class:`RateLimit` object is one set of buckets: attach it
to an LM and every node, run and thread of the process that calls that LM shares it.
"""

from __future__ import annotations

import threading
from typing import Any

from plait.errors import PlaitError
from plait.lm.protocol import LMRequest, Usage


class _Bucket:
    def __init__(self, per_minute: float, burst: float, floor: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(floor, self.rate * burst)
        self.level = self.capacity
        self.stamp: float | None = None

    def take(self, amount: float, now: float) -> float:
        """Take ``amount``; the seconds to wait until the bucket is out of debt."""
        if self.stamp is not None:
            self.level = min(self.capacity, self.level + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        self.level -= amount
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def give(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


class RateLimit:
    """Requests per minute and tokens per minute for one LM (either may be None).

    ``burst``: how many seconds' worth of allowance may be spent at once (default 1 s: calls are
    paced evenly). Tokens are estimated before a call (a quarter of the prompt's characters plus
    ``max_tokens``) and corrected with the usage the provider reports.

    Example::

        lm = plait.DSPyLM("openai/gpt-4o-mini")
        lm.rate_limit = plait.RateLimit(requests_per_minute=500, tokens_per_minute=200_000)
        # or per run, by LM name:  compiled.run(items, rate_limits={"openai/gpt-4o-mini": limit})
    """

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
                 *, burst: float = 1.0) -> None:
        for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute),
                            ("burst", burst)):
            if value is not None and not value > 0:
                raise PlaitError(f"RateLimit: invalid {name}", field=name, expected="a number > 0 (or None)",
                                 found=repr(value), fix=f"pass {name}= a positive number")
        self.requests_per_minute, self.tokens_per_minute = requests_per_minute, tokens_per_minute
        self._requests = _Bucket(requests_per_minute, burst, 1.0) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, burst, 0.0) if tokens_per_minute else None
        self._lock = threading.Lock()  # runs in other threads (Jupyter's facade) share the buckets

    # Sent to another process (a Ray worker) it arrives with its state and a lock of its own.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def reserve(self, tokens: float, now: float) -> float:
        """Take one request and ``tokens``; the seconds to wait before calling."""
        with self._lock:
            wait = self._requests.take(1, now) if self._requests else 0.0
            if self._tokens:
                wait = max(wait, self._tokens.take(tokens, now))
            return wait

    def settle(self, estimated: float, usage: Usage | None) -> None:
        """Correct the token bucket with the tokens the call really used."""
        used = (usage.prompt_tokens + usage.completion_tokens) if usage else 0
        if self._tokens and used:
            with self._lock:
                self._tokens.give(estimated - used)

    def __repr__(self) -> str:
        return f"RateLimit(requests_per_minute={self.requests_per_minute}, tokens_per_minute={self.tokens_per_minute})"


def estimate_tokens(request: LMRequest) -> int:
    """A request's tokens before the call: characters / 4 of the prompt, plus ``max_tokens``."""
    chars = sum(len(str(m.get("content", ""))) for m in request.messages)
    limit: Any = request.settings.get("max_tokens") or 0
    return chars // 4 + (int(limit) if isinstance(limit, (int, float)) else 0)

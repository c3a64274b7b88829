"""A fault-injecting LM wrapper: test how a pipeline survives errors, latency, outages, 429s and
malformed replies, reproducibly.

Every decision for a call is drawn from a random generator seeded by (``seed``, the request's
content, how many times this wrapper has seen that request): the same pipeline over the same
items meets the same faults in every process, whatever the order in which calls happen to run.
Outage windows are clock times relative to ``start``.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Sequence

from plait.clock import REAL_CLOCK, Clock
from plait.hashing import stable_hash
from plait.lm.protocol import LMError, LMRequest, LMResponse, Usage

MALFORMED = "Sorry, I can't help with that. (an injected malformed reply)"


class Faulty:
    """Wrap ``inner`` and inject faults. Rates are probabilities per call, checked in this order:
    an outage window (every call fails), ``fatal_rate`` (a non-transient 400), ``error_rate`` (a
    transient 5xx), ``rate_limit_rate`` (a 429 with Retry-After ``retry_after``) and
    ``malformed_rate`` (a reply that parses into nothing). ``latency``: seconds per call, a
    ``(mean, jitter)`` pair drawn uniformly from mean +- jitter, or ``f(rng) -> seconds``.

    Example::

        lm = plait.Faulty(plait.ScriptedLM(answer), error_rate=0.2, latency=(0.1, 0.05),
                          outages=[(30, 90)], rate_limit_rate=0.05, retry_after=2.0,
                          malformed_rate=0.05, seed=7)
        run = compiled.run(items, lm=lm)
        lm.injected    # Counter({'error': 41, 'outage': 17, 'rate_limit': 9, 'malformed': 8})

    The identity is the inner LM's: faults never change a correct answer, so outputs are shared
    with runs of the unwrapped LM. Other attributes (``retry``, ``breaker``, ``rate_limit``...) are
    read from the inner LM unless set on the wrapper.
    """

    def __init__(self, inner: Any, *, error_rate: float = 0.0, rate_limit_rate: float = 0.0,
                 retry_after: float | None = 1.0, malformed_rate: float = 0.0, fatal_rate: float = 0.0,
                 latency: Any = 0.0, outages: Sequence[tuple[float, float]] = (), start: float | None = None,
                 seed: int = 0, clock: Clock | None = None, name: str | None = None) -> None:
        self.inner, self.name = inner, name or inner.name
        self.max_concurrency = getattr(inner, "max_concurrency", 1024)
        self.adapter = getattr(inner, "adapter", "chat")
        self.rates = {"fatal": fatal_rate, "error": error_rate, "rate_limit": rate_limit_rate,
                      "malformed": malformed_rate}
        self.retry_after, self.latency, self.seed = retry_after, latency, seed
        self.outages = [(float(a), float(b)) for a, b in outages]
        self.clock = clock or REAL_CLOCK
        self.start = self.clock.now() if start is None else start
        self.calls, self.answered = 0, 0
        self.injected: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (a half-built or unpickled object): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def acall(self, request: LMRequest) -> LMResponse:
        self.calls += 1
        rng = self._rng(request)
        fault = self._fault(rng)
        await self.clock.sleep(self._latency(rng))
        if fault is not None:
            self.injected[fault] += 1
            return self._inject(fault, request)
        response = await self.inner.acall(request)
        self.answered += 1
        return response

    def in_outage(self, now: float | None = None) -> bool:
        elapsed = (self.clock.now() if now is None else now) - self.start
        return any(a <= elapsed < b for a, b in self.outages)

    def _rng(self, request: LMRequest) -> random.Random:
        digest = stable_hash([request.messages, request.settings])
        seen = self._seen[digest]
        self._seen[digest] += 1
        return random.Random(f"{self.seed}:{digest}:{seen}")

    def _fault(self, rng: random.Random) -> str | None:
        draws = {kind: rng.random() < rate for kind, rate in self.rates.items()}  # always draw all
        if self.in_outage():
            return "outage"
        return next((kind for kind, hit in draws.items() if hit), None)

    def _latency(self, rng: random.Random) -> float:
        latency = self.latency
        if callable(latency):
            return max(0.0, float(latency(rng)))
        if isinstance(latency, (tuple, list)):
            mean, jitter = latency
            return max(0.0, rng.uniform(mean - jitter, mean + jitter))
        return float(latency or 0.0)

    def _inject(self, fault: str, request: LMRequest) -> LMResponse:
        if fault == "malformed":
            return LMResponse(MALFORMED, Usage(sum(len(m["content"]) for m in request.messages) // 4, 12))
        raise {
            "outage": LMError(f"the provider is down (HTTP 503, an injected outage) calling {self.name}",
                              transient=True),
            "fatal": LMError(f"the provider rejected the request (HTTP 400, an injected fault) calling {self.name}",
                             transient=False),
            "error": LMError(f"the provider failed (HTTP 500, an injected fault) calling {self.name}",
                             transient=True),
            "rate_limit": LMError(f"rate limited (HTTP 429, an injected fault) calling {self.name}",
                                  transient=True, retry_after=self.retry_after),
        }[fault]

    def __repr__(self) -> str:
        rates = ", ".join(f"{k}_rate={v:g}" for k, v in self.rates.items() if v)
        return f"Faulty({self.inner!r}{', ' + rates if rates else ''}, outages={self.outages}, seed={self.seed})"

"""One LM call of a node, guarded: route (breakers, fallbacks), budget, rate limit, concurrency,
timeout, and the retry loop with backoff. The executor decides whether a node runs; the node
runner formats and parses; this is where a call meets the real world, and where what comes back
(a reply or an error) becomes plait's: scrubbed of every credential the LM could use (see
plait/lm/secrets.py) before the journal, the events, the logs or the user see it.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from plait.checkpoints.spend import NO_REPLY, Spend
from plait.clock import REAL_CLOCK, Clock
from plait.errors import NodeError
from plait.ir.nodes import Node
from plait.lm.protocol import LMError, LMRequest, LMResponse, Usage
from plait.lm.secrets import Scrubber
from plait.runtime import events as ev
from plait.runtime.breaker import CLOSED, OPEN
from plait.runtime.limits import CallGate, LocalGate
from plait.runtime.policies import Guard, Route
from plait.runtime.ratelimit import estimate_tokens
from plait.runtime.retry import RetryPolicy, is_transient

# What an LM call may raise that the retry policy judges; anything else is a bug and propagates.
LM_FAILURES = (LMError, TimeoutError, asyncio.TimeoutError, ConnectionError)


@dataclass(frozen=True)
class Reply:
    """An LM's reply as the node runner reads it: its text, the LM that answered (``fallback_hash``:
    the identity hash of a fallback LM; None: the primary), its tokens and cost, and why it stopped."""

    text: str
    lm: str
    fallback_hash: str | None = None
    usage: Usage = Usage()
    finish_reason: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        """A reply as the journal keeps it (``dataclasses.asdict``)."""
        return cls(**{**data, "usage": Usage(**data["usage"])})


@dataclass
class NodeCall:
    """One execution of one node. ``prior``: attempts an earlier process of this run made (from
    the journal); ``made``: attempts made here; ``journaled``: of those, already in the journal.
    ``spent``: the requests sent here, answered or not, with every reply's tokens and cost (what
    the journal's rows add up, checkpoints/spend.py); ``spent_journaled``: of that, already journaled.
    ``replies``: the replies that did not parse and were asked again, in order, an earlier
    process's (from the journal, re-read instead of asked again) then this one's; ``on_reask``
    journals them, before each re-ask is sent (DESIGN.md contract 4: a kill repeats only that call)."""

    node: Node
    item_id: str
    key: str = ""  # the content key the node's failed attempts are journaled under
    prior: int = 0
    made: int = 0
    journaled: int = 0
    last_error: str | None = None
    on_retry: Callable[[NodeCall, BaseException, float], None] | None = None
    iteration: int = 0  # the journal row's: a loop's (from 1) for a call in its body, a DSPy call's ordinal
    journal_node: str = ""  # the journal row's node: a LOOP's for a call in its body; "": this node's
    spent: Spend = Spend()
    spent_journaled: Spend = Spend()
    replies: list[Reply] = field(default_factory=list)
    on_reask: Callable[[NodeCall, BaseException], None] | None = None

    @property
    def attempts(self) -> int:
        return self.prior + self.made

    @property
    def unrecorded(self) -> int:
        return self.made - self.journaled

    @property
    def unrecorded_spend(self) -> Spend:
        return self.spent - self.spent_journaled

    def journaled_all(self) -> None:
        """Everything made and spent so far is in the journal now."""
        self.journaled, self.spent_journaled = self.made, self.spent

    def reasked(self, reply: Reply, exc: BaseException) -> None:
        """``reply`` did not parse (``exc``) and the node asks again: journal it first."""
        self.replies.append(reply)
        if self.on_reask is not None:
            self.on_reask(self, exc)


class LMCaller:
    """Makes the LM calls of one run. ``gate``: where its budget and rate limits are kept (limits.py)."""

    def __init__(self, run_id: str = "", *, clock: Clock = REAL_CLOCK, rng: random.Random | None = None,
                 gate: CallGate | None = None, emit: Callable[[ev.Event], None] = lambda e: None) -> None:
        self.run_id, self.clock, self.rng, self.emit = run_id, clock, rng or random.Random(), emit
        self.gate = gate if gate is not None else LocalGate(None, clock)
        self._semaphores: dict[int, asyncio.Semaphore] = {}
        self._scrubbers: dict[int, Scrubber] = {}  # for replies; reading the environment per call costs ~0.2 ms

    async def call(self, guard: Guard, request: LMRequest, nc: NodeCall) -> tuple[Route, LMResponse]:
        """The answering route and its response; raises NodeError when the policy gives up."""
        # a node resumed while re-asking asks again, as it would have without the kill: re-asks are
        # bounded by parse_retries, and a transient failure journaled after one passed this check
        if nc.made == 0 and nc.attempts >= guard.retry.max_attempts and not nc.replies:
            raise no_attempts_left(nc, guard.retry)
        while True:
            route = guard.primary
            try:
                route = self._route(guard, nc)
                return route, await self._attempt(guard, route, request, nc)
            except LM_FAILURES as exc:
                await self._after_failure(guard, route, exc, nc)

    def _route(self, guard: Guard, nc: NodeCall) -> Route:
        now = self.clock.now()
        for route in guard.routes:
            if route.breaker is None or route.breaker.acquire(now):
                if route is not guard.primary:
                    self.emit(ev.FellBack(self.run_id, nc.item_id, nc.node.id, guard.primary.lm.name, route.lm.name))
                return route
        nc.made += 1  # a refused attempt counts: an outage cannot stretch a node's attempts forever
        waits = [w for r in guard.routes if (w := r.breaker.retry_in(now)) is not None]
        refusal = guard.primary.breaker.refusal(guard.primary.lm.name, now)
        refusal.retry_after = min(waits) if waits else None
        raise refusal

    async def _attempt(self, guard: Guard, route: Route, request: LMRequest, nc: NodeCall) -> LMResponse:
        estimate, sent = estimate_tokens(request), False
        try:
            await self.gate.enter(route, estimate)
            nc.made += 1
            sent = True
            response = await self._send(guard, route, request)
        except BaseException as exc:
            self._judge(route, exc)
            if sent:
                nc.spent = nc.spent + NO_REPLY
                self.emit(ev.LMCalled(self.run_id, nc.item_id, nc.node.id, route.lm.name, answered=False))
            raise
        self._judge(route, None)
        self._answered(nc, route.lm.name, response.usage)
        self.gate.leave(route, estimate, response.usage)
        return response

    def _answered(self, nc: NodeCall, lm_name: str, usage: Usage) -> None:
        """Count a reply, whether it will parse or not: its tokens and cost were spent."""
        nc.spent = nc.spent + Spend.reply(usage.prompt_tokens, usage.completion_tokens, usage.cost)
        self.emit(ev.LMCalled(self.run_id, nc.item_id, nc.node.id, lm_name, answered=True,
                              prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                              cost=usage.cost))

    async def _send(self, guard: Guard, route: Route, request: LMRequest) -> LMResponse:
        lm = route.lm
        semaphore = self._semaphores.get(id(lm))
        if semaphore is None:
            semaphore = self._semaphores[id(lm)] = asyncio.Semaphore(getattr(lm, "max_concurrency", 1024))
        async with semaphore:
            try:
                response = await self._answer(guard, lm, request)
            except Exception as exc:
                clean = Scrubber.for_lm(lm).error(exc, is_transient(exc))  # the environment as it is now
                if clean is exc:
                    raise
            else:
                scrubber = self._scrubbers.get(id(lm)) or self._scrubbers.setdefault(id(lm), Scrubber.for_lm(lm))
                return scrubber.reply(response)
        raise clean  # outside the handler, so that the exception quoting a credential is not its context

    async def _answer(self, guard: Guard, lm: Any, request: LMRequest) -> LMResponse:
        if guard.timeout is None:
            return await lm.acall(request)
        try:
            return await self.clock.wait_for(lm.acall(request), guard.timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise LMError(f"LM '{lm.name}' did not answer within {guard.timeout:g} s (the call timeout)",
                          transient=True) from None

    def _judge(self, route: Route, exc: BaseException | None) -> None:
        """Tell the route's breaker how the call went: failed (transient), answered, or neither."""
        breaker = route.breaker
        if breaker is None:
            return
        if exc is not None and not isinstance(exc, LM_FAILURES):  # cancelled, budget, a bug: no verdict
            breaker.abandon()
            return
        changed = breaker.record(exc is None or not is_transient(exc), self.clock.now())
        if changed == OPEN:
            self.emit(ev.BreakerOpened(self.run_id, route.lm.name, breaker.streak, breaker.cooldown))
        elif changed == CLOSED:
            self.emit(ev.BreakerClosed(self.run_id, route.lm.name))

    async def _after_failure(self, guard: Guard, route: Route, exc: BaseException, nc: NodeCall) -> None:
        """Sleep before the next attempt, or raise the node's error when the policy gives up."""
        policy = guard.retry
        if not policy.retries(exc) or nc.attempts >= policy.max_attempts:
            raise lm_failed(nc, route, exc, policy) from exc
        delay = policy.delay(nc.attempts, self.rng, getattr(exc, "retry_after", None))
        if nc.on_retry is not None:
            nc.on_retry(nc, exc, delay)
        if (stop := self.gate.reached()) is not None:
            raise stop  # no point waiting for an attempt the budget will not allow
        await self.clock.sleep(delay)


def reason(exc: BaseException) -> str:
    """A one-line reason for events and the journal."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def lm_failed(nc: NodeCall, route: Route, exc: BaseException, policy: RetryPolicy) -> NodeError:
    node, name = nc.node, route.lm.name
    if not policy.retries(exc):
        return NodeError(f"LM '{name}' failed for node '{node.id}': {exc}", node=node.id, source=node.source,
                         fix="check the LM's configuration and availability, then resume the run: finished "
                         "nodes are not called again")
    return NodeError(
        f"LM '{name}' failed for node '{node.id}' after {_attempts(nc.attempts)}: {exc}", node=node.id,
        source=node.source, expected=f"an answer within {policy.max_attempts} attempts ({policy.describe()})",
        found=f"{_attempts(nc.attempts)}, the last one: {reason(exc)}",
        fix="the error is transient: resume the run when the provider answers again, with "
        "reset_attempts=True or a RetryPolicy with more max_attempts (attempts count across resumes); "
        "finished nodes are not called again")


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def no_attempts_left(nc: NodeCall, policy: RetryPolicy) -> NodeError:
    node = nc.node
    return NodeError(
        f"node '{node.id}' has no attempts left: the journal records {nc.prior} attempts, and its retry "
        f"policy allows {policy.max_attempts} per run", node=node.id, source=node.source,
        expected=f"at most {policy.max_attempts} attempts ({policy.describe()})",
        found=f"{nc.prior} attempts; the last error: {(nc.last_error or 'unknown').splitlines()[0][:200]}",
        fix=f"resume with reset_attempts=True, or retry=plait.RetryPolicy(max_attempts=...) above {nc.prior}")

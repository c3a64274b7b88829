"""Time, injectable: every wait of the runtime (backoff, rate limits, timeouts, the fault
injector's latency) goes through a clock, so that tests run hours of retries in milliseconds.

:class:`RealClock` is the default. :class:`FakeClock` keeps virtual time: a sleep returns as soon
as nothing else can run, in deadline order, and moves ``now()`` to its deadline, so concurrent
sleepers overlap exactly as they would in real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Awaitable, Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What the runtime needs from time: a monotonic ``now()``, ``sleep`` and a timeout."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T: ...


class RealClock:
    """Wall time: ``time.monotonic`` (one clock for every process of the machine) and asyncio."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        return await asyncio.wait_for(awaitable, timeout)


REAL_CLOCK = RealClock()


class FakeClock:
    """Virtual time for tests. ``sleeps`` lists every requested sleep, in order.

    Example::

        clock = plait.FakeClock()
        run = compiled.run(items, lm=plait.Faulty(lm, outages=[(10, 70)], clock=clock),
                           clock=clock, retry=plait.RetryPolicy(max_attempts=10))
        clock.now()      # about 70: the run waited out the outage, in no real time
        clock.sleeps     # the backoff delays (and the injected latencies)

    Time advances only when every task of the event loop is waiting; all waiting in the code under
    test must go through this clock (a real ``asyncio.sleep`` is not seen).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._driver: asyncio.Task | None = None

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self._sleep(seconds)

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        task = asyncio.ensure_future(awaitable)
        timer = asyncio.ensure_future(self._sleep(timeout))
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            timer.cancel()
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise TimeoutError(f"timed out after {timeout:g} s (fake clock)")

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await future

    async def _drive(self) -> None:
        """Wake the earliest sleeper each time the loop has nothing else to run."""
        while self._sleepers:
            await _settle()
            deadline, _, future = heapq.heappop(self._sleepers)
            if not future.done():  # a cancelled sleep (a timeout that did not fire) is skipped
                self._now = max(self._now, deadline)
                future.set_result(None)


async def _settle(limit: int = 100_000) -> None:
    """Yield until no other callback is ready: every task is blocked (on this clock, a lock...)."""
    loop: Any = asyncio.get_running_loop()
    for _ in range(limit):
        await asyncio.sleep(0)
        if not getattr(loop, "_ready", None):  # asyncio's ready queue; absent on exotic loops
            return

"""PrefixQueue: who runs next, cancellation, and no starvation (no model needed)."""

from __future__ import annotations

import asyncio
import os

from hypothesis import given
from hypothesis import strategies as st

from plait.lm.prefix_queue import PrefixQueue, shared_prefix


async def _run_all(queue: PrefixQueue, prompts: list[str], hold: float = 0.0) -> list[str]:
    """Each prompt takes a turn; returns the order in which they ran."""
    order: list[str] = []

    async def call(prompt: str) -> None:
        async with queue.turn(prompt):
            order.append(prompt)
            await asyncio.sleep(hold)

    await asyncio.gather(*(call(p) for p in prompts))
    return order


def test_the_waiter_sharing_the_longest_prefix_runs_next():
    prompts = ["A: one", "B: one", "A: two", "B: two", "A: three", "B: three"]
    order = asyncio.run(_run_all(PrefixQueue(), prompts))
    # A: one runs at once; the As follow it, then the Bs, oldest first among equals
    assert order == ["A: one", "A: two", "A: three", "B: one", "B: two", "B: three"]


def test_a_waiter_passed_over_max_skips_times_goes_next():
    prompts = ["A0", "B0", "A1", "A2", "A3", "A4"]
    order = asyncio.run(_run_all(PrefixQueue(max_skips=2), prompts))
    assert order == ["A0", "A1", "A2", "B0", "A3", "A4"]


def test_a_cancelled_waiter_never_runs_and_the_turn_passes_on():
    async def scenario() -> list[str]:
        queue, ran = PrefixQueue(), []
        await queue.acquire("first")
        async def call(prompt: str) -> None:
            async with queue.turn(prompt):
                ran.append(prompt)
        cancelled = asyncio.create_task(call("first again"))
        kept = asyncio.create_task(call("other"))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        queue.release()
        await asyncio.wait_for(kept, 5)
        assert cancelled.cancelled()
        return ran
    assert asyncio.run(scenario()) == ["other"]


def test_a_turn_granted_to_a_waiter_cancelled_at_that_moment_passes_on():
    async def scenario() -> list[str]:
        queue, ran = PrefixQueue(), []
        await queue.acquire("x")
        async def call(prompt: str) -> None:
            async with queue.turn(prompt):
                ran.append(prompt)
        first, second = asyncio.create_task(call("x1")), asyncio.create_task(call("y"))
        await asyncio.sleep(0)
        queue.release()  # grants x1 (scheduled on the loop), then x1 is cancelled before it wakes
        first.cancel()
        await asyncio.wait_for(second, 5)
        return ran
    assert asyncio.run(scenario()) == ["y"]


@given(st.text(max_size=40), st.text(max_size=40))
def test_shared_prefix_is_the_common_prefix_length(a, b):
    assert shared_prefix(a, b) == len(os.path.commonprefix([a, b]))
    assert shared_prefix(a, a + b) == len(a)


def test_a_holder_whose_event_loop_closed_without_releasing_does_not_block_the_queue():
    queue = PrefixQueue()
    abandoned = asyncio.new_event_loop()
    abandoned.run_until_complete(queue.acquire("held for ever"))  # never released
    abandoned.close()
    order = asyncio.run(asyncio.wait_for(_run_all(queue, ["next"]), 5))
    assert order == ["next"]

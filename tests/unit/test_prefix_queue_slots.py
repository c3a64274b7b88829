"""PrefixQueue with several slots (the embedded model's pool of instances): how many run at once,
which slot a call gets, and which waiter a freed slot goes to (no model needed)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from plait.lm.model_pool import pool_shape
from plait.lm.prefix_queue import PrefixQueue


def test_a_freed_slot_goes_to_the_waiter_sharing_the_longest_prefix_with_its_last_prompt():
    async def scenario() -> list[tuple[str, int]]:
        queue, granted = PrefixQueue(slots=2), []
        first, second = await queue.acquire("A: zero"), await queue.acquire("B: zero")

        async def call(prompt: str) -> None:
            async with queue.turn(prompt) as slot:
                granted.append((prompt, slot))
                await asyncio.sleep(0.01)

        waiting = [asyncio.create_task(call(p)) for p in ("B: one", "A: one")]
        await asyncio.sleep(0)
        queue.release(first)  # slot 0 last ran "A: zero": "A: one" gets it, though "B: one" is older
        await asyncio.sleep(0)
        queue.release(second)
        await asyncio.wait_for(asyncio.gather(*waiting), 5)
        return [(first, second), *granted]

    assert asyncio.run(scenario()) == [(0, 1), ("A: one", 0), ("B: one", 1)]


def test_a_call_finding_free_slots_takes_the_one_whose_last_prompt_it_shares():
    async def scenario() -> list[int]:
        queue = PrefixQueue(slots=3)
        slots = [await queue.acquire(p) for p in ("A: 1", "B: 1", "C: 1")]
        for slot in slots:
            queue.release(slot)
        return [*slots, await queue.acquire("C: 2"), await queue.acquire("A: 2"), await queue.acquire("B: 2")]

    assert asyncio.run(scenario()) == [0, 1, 2, 2, 0, 1]


async def _holders_over_time(slots: int, prompts: list[str], holds: list[float]) -> tuple[list[str], int, bool]:
    """Runs every prompt through the queue; returns the order they ran in, the most that held a
    slot at once, and whether any slot was ever held by two calls at once."""
    queue, ran, holding, most, clash = PrefixQueue(slots=slots, max_skips=4), [], set(), 0, False

    async def call(prompt: str, hold: float) -> None:
        nonlocal most, clash
        async with queue.turn(prompt) as slot:
            clash = clash or slot in holding
            holding.add(slot)
            most = max(most, len(holding))
            ran.append(prompt)
            await asyncio.sleep(hold)
            holding.discard(slot)

    await asyncio.gather(*(call(p, h) for p, h in zip(prompts, holds)))
    return ran, most, clash


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.lists(st.tuples(st.sampled_from(["A", "AB", "B", "BA", ""]), st.integers(0, 2)),
                                   min_size=1, max_size=12))
def test_every_call_runs_once_and_no_more_than_slots_run_at_once(slots, calls):
    prompts = [f"{prefix}:{i}" for i, (prefix, _) in enumerate(calls)]
    holds = [hold / 1000 for _, hold in calls]
    ran, most, clash = asyncio.run(_holders_over_time(slots, prompts, holds))
    assert sorted(ran) == sorted(prompts)
    assert most == min(slots, len(prompts)) and not clash


def test_a_slot_whose_holder_loop_closed_is_free_again():
    queue = PrefixQueue(slots=2)
    abandoned = asyncio.new_event_loop()
    assert abandoned.run_until_complete(queue.acquire("held for ever")) == 0
    abandoned.close()

    async def both() -> list[int]:
        return [await queue.acquire("one"), await queue.acquire("two")]

    assert sorted(asyncio.run(asyncio.wait_for(both(), 5))) == [0, 1]


def test_the_pool_shape_fits_the_cores_unless_given():
    assert pool_shape(cores=2, max_concurrency=1, instances=None, n_threads=None) == (1, 2)  # one call at a time
    assert pool_shape(cores=2, max_concurrency=32, instances=None, n_threads=None) == (2, 1)
    assert pool_shape(cores=8, max_concurrency=3, instances=None, n_threads=None) == (3, 2)
    assert pool_shape(cores=4, max_concurrency=32, instances=None, n_threads=2) == (2, 2)
    assert pool_shape(cores=2, max_concurrency=32, instances=None, n_threads=4) == (1, 4)
    assert pool_shape(cores=2, max_concurrency=32, instances=3, n_threads=None) == (3, 1)
    assert pool_shape(cores=2, max_concurrency=1, instances=2, n_threads=2) == (2, 2)  # as given

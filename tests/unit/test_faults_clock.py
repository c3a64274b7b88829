"""FakeClock: virtual time in which concurrent sleeps overlap as they would in real time."""

import asyncio

import pytest

import plait


def test_concurrent_sleeps_overlap_and_wake_in_deadline_order():
    clock, woke = plait.FakeClock(), []

    async def nap(seconds):
        await clock.sleep(seconds)
        woke.append((seconds, clock.now()))

    async def main():
        await asyncio.gather(nap(3), nap(5), nap(1), nap(3))

    asyncio.run(main())
    assert woke == [(1, 1), (3, 3), (3, 3), (5, 5)] and clock.sleeps == [3, 5, 1, 3]


def test_sleeps_in_sequence_add_up():
    clock = plait.FakeClock(start=10)

    async def main():
        for seconds in (1, 2, 0, 4):
            await clock.sleep(seconds)

    asyncio.run(main())
    assert clock.now() == 17


def test_wait_for_times_out_on_fake_time_and_returns_early_results():
    clock = plait.FakeClock()

    async def slow():
        await clock.sleep(100)
        return "late"

    async def fast():
        await clock.sleep(1)
        return "early"

    async def main():
        with pytest.raises(TimeoutError):
            await clock.wait_for(slow(), 10)
        assert clock.now() == 10
        assert await clock.wait_for(fast(), 10) == "early"
        await clock.sleep(50)  # the cancelled timer did not fire
        return clock.now()

    assert asyncio.run(main()) == 61

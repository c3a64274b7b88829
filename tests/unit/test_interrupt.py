"""A cancelled call in a worker thread (Ctrl-C during the embedded model's generation) stops the
generation at its next token and says so, instead of leaving the process waiting silently."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from plait.lm.interrupt import StopOnCancel, Stopped, in_thread, raise_if_stopped


def _generate(tokens: int, ended: threading.Event, seen: list[int]) -> str:
    """Like llama.cpp's loop: the processor is called on every token's scores."""
    try:
        raise_if_stopped()
        processor = StopOnCancel()
        for token in range(tokens):
            processor(None, token)
            seen.append(token)
            time.sleep(0.01)
        return "the whole reply"
    finally:
        ended.set()


def test_a_cancelled_generation_stops_at_its_next_token_and_says_so(capsys):
    ended, seen = threading.Event(), []

    async def main() -> float:
        task = asyncio.create_task(in_thread(_generate, 3000, ended, seen))  # 30 s if left alone
        await asyncio.sleep(0.3)
        task.cancel()
        cancelled = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ended.wait(5)
        return time.perf_counter() - cancelled

    assert asyncio.run(main()) < 2 and len(seen) < 300
    assert "plait: interrupted: stopping the embedded model's call in flight; it ends at its next token" \
        in capsys.readouterr().err


def test_an_uncancelled_call_runs_to_the_end_untouched():
    ended, seen = threading.Event(), []
    assert asyncio.run(in_thread(_generate, 20, ended, seen)) == "the whole reply" and len(seen) == 20


def test_outside_in_thread_the_checks_do_nothing():
    assert StopOnCancel()(None, [1.0, 2.0]) == [1.0, 2.0]
    raise_if_stopped()  # no call to stop: no error
    assert issubclass(Stopped, Exception)

"""A cancelled call in a worker thread (Ctrl-C during the embedded model's generation): the process
says that it waits for the reply in flight, and a call cancelled before it started never starts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from plait.lm.interrupt import Stopped, in_thread, raise_if_stopped


def _generate(seconds: float, started: threading.Event, gate: threading.Lock | None = None) -> str:
    """Like LoadedModel.complete: wait for the model, check, then generate for ``seconds``."""
    with gate or threading.Lock():
        raise_if_stopped()
        started.set()
        time.sleep(seconds)
        return "the whole reply"


def test_a_cancelled_generation_says_that_the_process_waits_for_it(capsys):
    started = threading.Event()

    async def main() -> None:
        task = asyncio.create_task(in_thread(_generate, 0.5, started))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    err = capsys.readouterr().err
    assert "plait: interrupted: waiting for the embedded model's call in flight to finish its reply" in err
    assert "llama.cpp cannot stop it midway" in err


def test_a_call_cancelled_while_it_waits_for_the_model_never_starts(capsys):
    gate, started = threading.Lock(), threading.Event()
    outcome: list[BaseException] = []

    def waiting() -> None:
        try:
            _generate(0.0, started, gate)
        except Stopped as exc:
            outcome.append(exc)

    async def main() -> None:
        gate.acquire()  # another call holds the model
        task = asyncio.create_task(in_thread(waiting))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.release()

    asyncio.run(main())
    deadline = time.monotonic() + 5
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not started.is_set() and isinstance(outcome[0], Stopped)
    assert capsys.readouterr().err == ""  # it was not generating: nothing to wait for


def test_an_uncancelled_call_runs_to_the_end_and_outside_in_thread_the_check_does_nothing():
    assert asyncio.run(in_thread(_generate, 0.01, threading.Event())) == "the whole reply"
    raise_if_stopped()

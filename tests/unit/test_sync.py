"""The synchronous facade: a run's errors reach the caller as raised, with no unrelated context."""

import asyncio

import pytest

import plait
from plait.runtime.sync import run_sync


async def _fails():
    raise plait.InputError("the item is wrong", fix="pass the right item")


def test_an_error_from_a_run_carries_no_event_loop_context(store_path):
    plait.SQLiteStore(store_path).close()
    with pytest.raises(plait.RunNotFound) as err:
        plait.resume("no-such-run", store=store_path, progress=False)
    assert err.value.__context__ is None and err.value.__cause__ is None


def test_run_sync_raises_the_coroutines_error_as_is():
    with pytest.raises(plait.InputError) as err:
        run_sync(_fails())
    assert "no running event loop" not in repr(err.value.__context__)
    assert err.value.__context__ is None


def test_run_sync_inside_a_running_loop_runs_on_a_worker_thread():
    async def outer():
        return run_sync(asyncio.sleep(0, result="done"))

    assert asyncio.run(outer()) == "done"

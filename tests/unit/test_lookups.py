"""Cache lookups off the event loop (plait/runtime/lookups.py), on a real SQLite store: the keys
asked in one loop iteration are read together on a worker thread, the failure key only where the
value is missing, each answer or error reaches its own asker; and the step journal answers
``cached`` / ``cached_failure`` from them exactly as it answers by reading the store itself."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

import plait
from plait.checkpoints.keys import failure_key
from plait.checkpoints.protocol import RunRecord, Source
from plait.checkpoints.sqlite import SQLiteStore
from plait.errors import OutputParseError, StoreError
from plait.ir.nodes import Op
from plait.runtime.journal import Keys, StepJournal
from plait.runtime.lookups import Lookups
from tests.programs import Chain4

PLAN = plait.compile(Chain4()).plan
PREDICT, OUTPUT = PLAN.of_op(Op.PREDICT)[0], PLAN.of_op(Op.OUTPUT)[0]


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "lookups.db")
    s.create_run(RunRecord("r1", s.save_plan("{}"), "running", 1.0, 1.0), [("0", b'{"question": "q"}')])
    StepJournal(s, "r1").record_ok("0", PREDICT, 0, Keys("stored", "replay"), b'{"a": "x"}', source=Source.LM)
    yield s
    s.close()


class Asked:
    """The store's lookup, noting each key asked and the thread that asked it."""

    def __init__(self, store: SQLiteStore, broken: str | None = None) -> None:
        self.store, self.broken, self.asked, self.lock = store, broken, [], threading.Lock()

    def __call__(self, key: str) -> str | None:
        with self.lock:
            self.asked.append((key, threading.current_thread()))
        if key == self.broken:
            raise StoreError("the store is damaged", fix="restore it")
        return self.store.lookup(key)


def test_one_iterations_keys_are_read_together_off_the_loop(store):
    asked = Asked(store)
    lookups = Lookups(asked)

    async def main():
        first = [lookups.get("stored", failure_key("stored")), lookups.get("missing", failure_key("missing")),
                 lookups.get("plain", None)]
        return await asyncio.gather(*first), threading.current_thread()

    answers, loop_thread = asyncio.run(main())
    assert answers == [(store.lookup("stored"), None), (None, None), (None, None)]
    assert answers[0][0] is not None
    assert [key for key, _ in asked.asked] == ["stored", "missing", failure_key("missing"), "plain"]
    assert len({thread for _, thread in asked.asked}) == 1 and asked.asked[0][1] is not loop_thread


def test_an_error_reaches_only_the_key_that_raised_it(store):
    lookups = Lookups(Asked(store, broken="missing"))

    async def main():
        return await asyncio.gather(lookups.get("stored", None), lookups.get("missing", None),
                                    lookups.get("other", None), return_exceptions=True)

    stored, broken, other = asyncio.run(main())
    assert stored == (store.lookup("stored"), None) and other == (None, None)
    assert isinstance(broken, StoreError)


def test_a_cancelled_asker_leaves_the_others_their_answers(store):
    lookups = Lookups(Asked(store))

    async def main():
        gone, kept = lookups.get("stored", None), lookups.get("stored", None)
        gone.cancel()
        return await kept

    assert asyncio.run(main()) == (store.lookup("stored"), None)


def test_the_journal_answers_from_its_lookups_as_from_the_store(store):
    failed = OutputParseError("no", node=PREDICT.id, field="a", raw="{", raw_attempts=["{", "{{"])
    StepJournal(store, "r1").record_failed("0", PREDICT, Keys("failed", "replay-f"), failed, attempts=3)
    journal = StepJournal(store, "r1", writer=store.writer())
    direct = StepJournal(store, "r1")

    async def main():
        answers = []
        for key in ("stored", "failed", "missing"):
            await journal.look_up(PREDICT, key)
            answers.append((journal.cached(PREDICT, key), _summary(journal.cached_failure(PREDICT, key))))
        await journal.look_up(OUTPUT, "stored")  # an OUTPUT node is never reused: nothing is asked
        return answers

    expected = [(direct.cached(PREDICT, k), _summary(direct.cached_failure(PREDICT, k)))
                for k in ("stored", "failed", "missing")]
    assert asyncio.run(main()) == expected
    assert expected[0][0] is not None and expected[1] == (None, "no") and expected[2] == (None, None)
    assert journal._probed == {} and journal._failed == {}  # nothing held once asked


def _summary(failure):
    return failure.summary if failure is not None else None


def test_keys_asked_while_a_batch_is_read_make_the_next_one(store):
    asked = Asked(store)
    lookups = Lookups(asked)

    async def main():
        first = lookups.get("stored", None)
        await asyncio.sleep(0)  # the first batch is handed over
        later = [lookups.get(key, None) for key in ("a", "b", "stored")]
        return await asyncio.gather(first, *later)

    answers = asyncio.run(main())
    assert answers == [(store.lookup("stored"), None), (None, None), (None, None), (store.lookup("stored"), None)]
    assert [key for key, _ in asked.asked] == ["stored", "a", "b", "stored"]


def test_lookups_do_not_wait_for_blocking_calls_on_the_loops_default_threads(store):
    """A local LM's blocking calls run on the loop's default executor (asyncio.to_thread): with all
    its threads busy, a node's cache lookup is still answered."""
    lookups, release = Lookups(Asked(store)), threading.Event()

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
        busy = asyncio.ensure_future(asyncio.to_thread(release.wait, 30))
        await asyncio.sleep(0.05)  # the one default thread is blocked now
        answer = await asyncio.wait_for(lookups.get("stored", None), 10)
        done_before = busy.done()
        release.set()
        await busy
        return answer, done_before

    answer, busy_was_done = asyncio.run(main())
    assert answer == (store.lookup("stored"), None) and not busy_was_done


class AskedMany:
    """The store's lookup_many, noting each call's keys and the thread that made it."""

    def __init__(self, store: SQLiteStore, broken: bool = False) -> None:
        self.store, self.broken, self.calls = store, broken, []

    def __call__(self, keys: list[str]) -> dict[str, str]:
        self.calls.append((keys, threading.current_thread()))
        if self.broken:
            raise StoreError("the store is damaged", fix="restore it")
        return self.store.lookup_many(keys)


def test_with_lookup_many_a_batch_is_one_call_with_the_same_answers(store):
    StepJournal(store, "r1").record_failed("0", PREDICT, Keys("failed", "replay-f"),
                                           OutputParseError("no", node=PREDICT.id, field="a", raw="{"), attempts=1)
    many, asked = AskedMany(store), [("stored", failure_key("stored")), ("failed", failure_key("failed")),
                                     ("missing", failure_key("missing")), ("plain", None)]

    async def main(lookups):
        return await asyncio.gather(*(lookups.get(key, failed) for key, failed in asked)), threading.current_thread()

    together, loop_thread = asyncio.run(main(Lookups(Asked(store), many)))
    one_by_one, _ = asyncio.run(main(Lookups(Asked(store))))
    assert together == one_by_one and together[0][0] is not None and together[1][1] is not None
    assert together[2] == together[3] == (None, None)
    assert len(many.calls) == 1 and many.calls[0][1] is not loop_thread
    assert many.calls[0][0] == ["stored", failure_key("stored"), "failed", failure_key("failed"), "missing",
                                failure_key("missing"), "plain"]


def test_with_lookup_many_its_error_reaches_every_key_of_the_batch(store):
    lookups = Lookups(Asked(store), AskedMany(store, broken=True))

    async def main():
        return await asyncio.gather(lookups.get("stored", None), lookups.get("other", "x"), return_exceptions=True)

    assert all(isinstance(answer, StoreError) for answer in asyncio.run(main()))

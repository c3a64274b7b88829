"""The one check-else-run-and-record primitive (plait/runtime/journal.py), on a real SQLite store:
replay by replay key, reuse by content key, the remembered parse failure, attempts across
processes, proposed decisions; and that nothing else in plait builds a journal row."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

import plait
from plait.checkpoints.keys import failure_key
from plait.checkpoints.protocol import RunRecord, Source, Status
from plait.checkpoints.sqlite import SQLiteStore
from plait.errors import NodeError, OutputParseError
from plait.ir.nodes import Op
from plait.lm.protocol import Usage
from plait.runtime.journal import Keys, StepJournal
from tests.programs import Chain4

PLAN = plait.compile(Chain4()).plan
PREDICT, OUTPUT = PLAN.of_op(Op.PREDICT)[0], PLAN.of_op(Op.OUTPUT)[0]
KEYS = Keys("content-1", "replay-1")
DATA = b'{"a": "x"}'


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "steps.db")
    s.create_run(RunRecord("r1", s.save_plan("{}"), "running", 1.0, 1.0), [("0", b'{"question": "q"}')])
    yield s
    s.close()


def reopened(store, **options) -> StepJournal:
    """The journal as a later process (a resume, a Ray worker) sees it: the store and the run's rows."""
    return StepJournal(store, "r1", rows=store.journal("r1"), **options)


def parse_error(**fields) -> OutputParseError:
    return OutputParseError("the reply does not parse", node=PREDICT.id, field="a", field_kind="output field",
                            expected="str", found="'{'", raw="{", fix="add demos", **fields)


def test_a_recorded_value_replays_by_its_replay_key_only(store):
    value_hash = StepJournal(store, "r1").record_ok("0", PREDICT, 0, KEYS, DATA, source=Source.LM, lm="scripted",
                                                    usage=Usage(3, 2, 0.0), attempts=1)
    later = reopened(store)
    row = later.recorded("0", PREDICT, 0, Keys("another LM's content key", KEYS.replay))
    assert row is not None and row.value_hash == value_hash and later.read(value_hash) == DATA
    assert (row.status, row.source, row.lm, row.attempts) == (Status.OK, Source.LM, "scripted", 1)
    assert later.recorded("0", PREDICT, 0, Keys(KEYS.content, "other inputs")) is None
    assert later.recorded("0", PREDICT, 1, KEYS) is None  # another iteration
    assert reopened(store, force=frozenset({PREDICT.id})).recorded("0", PREDICT, 0, KEYS) is None


def test_a_row_without_replay_key_replays_by_its_content_key_or_a_fallbacks(store):
    StepJournal(store, "r1").record_ok("0", PREDICT, 0, Keys("fallback-key", None), DATA, source=Source.LM)
    later = reopened(store)
    assert later.recorded("0", PREDICT, 0, Keys("fallback-key", "r")) is not None
    assert later.recorded("0", PREDICT, 0, Keys("primary-key", "r")) is None
    assert later.recorded("0", PREDICT, 0, Keys("primary-key", "r"), made_by=lambda k: k == "fallback-key")


def test_only_a_reusable_steps_own_answer_is_cached(store):
    journal = StepJournal(store, "r1")
    journal.record_ok("0", PREDICT, 0, KEYS, DATA, source=Source.LM)
    assert journal.cached(PREDICT, KEYS.content) == store.lookup(KEYS.content) is not None
    shaped = Keys("asked-a-person", "r2")
    journal.record_ok("0", PREDICT, 1, shaped, DATA, source=Source.LM, cacheable=False)
    assert store.lookup(shaped.content) is None
    journal.record_ok("0", OUTPUT, 0, Keys("output", "r3"), b"{}", source=Source.OUTPUT)
    assert store.lookup("output") is None and store.run_items("r1")[0].status == "done"
    assert StepJournal(store, "r1", force=frozenset({PREDICT.id})).cached(PREDICT, KEYS.content) is None


def test_a_cache_hit_is_journaled_without_caching_it_again(store):
    journal = StepJournal(store, "r1")
    value_hash = journal.record_ok("0", PREDICT, 0, KEYS, DATA, source=Source.LM)
    journal.record_ok("0", PREDICT, 2, Keys("k2", "r2"), None, source=Source.CACHE, value_hash=value_hash)
    row = store.journal("r1")[("0", PREDICT.id, 2)]
    assert (row.source, row.value_hash, row.attempts) == (Source.CACHE, value_hash, 0)
    assert store.lookup("k2") is None


def test_a_parse_failure_is_remembered_with_its_re_asks_and_replayed_from_the_cache(store):
    failed = parse_error(raw_attempts=["{", "{{"])
    StepJournal(store, "r1", parse_retries=2).record_failed("0", PREDICT, KEYS, failed, attempts=3)
    row = store.journal("r1")[("0", PREDICT.id, 0)]
    assert (row.status, row.source, row.attempts) == (Status.FAILED, Source.LM, 3)
    assert store.run_items("r1")[0].status == "failed"
    remembered = reopened(store, parse_retries=2).cached_failure(PREDICT, KEYS.content)
    assert remembered.from_cache and str(remembered) == str(failed) and remembered.raw == "{"
    assert reopened(store, parse_retries=3).cached_failure(PREDICT, KEYS.content) is None  # more re-asks: ask


def test_a_fallbacks_or_a_transient_failure_is_not_remembered(store):
    journal = StepJournal(store, "r1")
    journal.record_failed("0", PREDICT, KEYS, parse_error(fallback_hash="fallback-lm"), attempts=1)
    journal.record_failed("0", PREDICT, Keys("k2", "r2"), NodeError("LM down", node=PREDICT.id), attempts=4)
    assert store.lookup(failure_key(KEYS.content)) is None and store.lookup(failure_key("k2")) is None


def test_a_remembered_failure_is_journaled_as_from_the_cache_with_no_attempts(store):
    StepJournal(store, "r1").record_failed("0", PREDICT, KEYS, parse_error(from_cache=True), attempts=1)
    row = store.journal("r1")[("0", PREDICT.id, 0)]
    assert (row.source, row.attempts) == (Source.CACHE, 0)


def test_attempts_count_across_processes_unless_reset(store):
    call = StepJournal(store, "r1").call("0", PREDICT, KEYS.content, on_retry=lambda *a: None)
    call.made = 2
    StepJournal(store, "r1").record_attempt(call, TimeoutError("slow"))
    assert call.journaled == 2
    later = reopened(store).call("0", PREDICT, KEYS.content, on_retry=lambda *a: None)
    assert (later.prior, later.last_error, later.replies) == (2, "slow", [])  # no value: no re-ask (or an older plait)
    later.made = 3
    StepJournal(store, "r1").record_attempt(later, TimeoutError("slower"))
    assert store.journal("r1")[("0", PREDICT.id, 0)].attempts == 5  # the store adds them up
    assert reopened(store, reset_attempts=True).call("0", PREDICT, KEYS.content, lambda *a: None).prior == 0
    assert reopened(store).call("0", PREDICT, "another content key", lambda *a: None).prior == 0


def test_a_proposed_decision_is_found_as_proposed_and_never_cached(store):
    journal = StepJournal(store, "r1")
    value_hash = journal.record_proposed("0", PREDICT, 1, KEYS, DATA, source=Source.LM, lm="scripted",
                                         usage=Usage(), attempts=1)
    later = reopened(store)
    assert later.recorded("0", PREDICT, 1, KEYS) is None  # not a finished iteration
    assert later.recorded("0", PREDICT, 1, KEYS, Status.PROPOSED).value_hash == value_hash
    assert store.lookup(KEYS.content) is None


def test_statuses_and_sources_are_stored_as_their_plain_words(store):
    journal = StepJournal(store, "r1")
    journal.record_ok("0", PREDICT, 0, KEYS, DATA, source=Source.LM)
    journal.record_failed_iteration("0", PREDICT, 1, NodeError("no"), source=Source.STEP, lm=None, attempts=0)
    journal.record_input_failure("0", "input", "bad input")
    with sqlite3.connect(store.path) as conn:
        words = conn.execute("SELECT iteration, node_id, status, source FROM journal ORDER BY 1, 2").fetchall()
    assert words == [(0, PREDICT.id, "ok", "lm"), (0, "input", "failed", "input"), (1, PREDICT.id, "failed", "step")]
    assert f"{Status.OK}|{Source.CACHE}" == "ok|cache" and Status.OK == "ok"


def files_saying(pattern: str, allowed: set[str]) -> list[str]:
    package = Path(plait.__file__).parent
    return sorted(name for p in package.rglob("*.py")
                  if (name := p.relative_to(package).as_posix()) not in allowed and re.search(pattern, p.read_text()))


def test_nothing_outside_the_primitive_builds_or_writes_a_journal_row():
    # the primitive; and the store, which reads its rows back
    assert files_saying(r"\bJournalRow\(", {"runtime/journal.py", "checkpoints/sql_store.py"}) == []
    assert files_saying(r"\bstore\.record\(", {"runtime/journal.py"}) == []

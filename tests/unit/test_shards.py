"""What a Ray worker does, run in this process: a shard of a stopped run finishes it from the journal
with no call for a recorded node, records under the driver's lease token and is refused once that
lease is lost; a run's limits admit exactly its budget; the store reads one shard's journal."""

from __future__ import annotations

import asyncio
import pickle

import pytest

import plait
from plait.runtime.options import RunOptions
from plait.lm import config
from plait.lm.protocol import LMRequest
from plait.runtime.executor import ItemState
from plait.runtime.limits import LocalGate
from plait.runtime.ray_limits import LimitKeeper, RunLimits
from plait.runtime.shards import RunSpec, ShardItem, ShardRunner, absorb
from tests.crash.pipeline_job import answer, items
from tests.ray.programs import LM_NODES, Diamond, ids

N = 6


def stopped_run(store_path: str, lm: plait.ScriptedLM) -> plait.Run:
    run = plait.compile(Diamond()).run(items(N), ids=ids(N), store=store_path, lm=lm, concurrency=1,
                                       budget=plait.Budget(lm_calls=9))
    assert run.status == "stopped"
    return run


def spec_of(store_path: str, run: plait.Run, lm: plait.ScriptedLM, owner: str | None = None) -> RunSpec:
    store = plait.SQLiteStore(store_path)
    plan_hash = store.get_run(run.id).plan_hash
    store.close()
    return RunSpec(store_path, run.id, plan_hash, owner, RunOptions(lm=lm, concurrency=2), config.Settings())


def shard(run: plait.Run) -> list[ShardItem]:
    return [ShardItem(r.item_id, i, items(N)[i]) for i, r in enumerate(run.items)]


def test_a_shard_finishes_a_stopped_run_calling_only_for_unrecorded_nodes(store_path):
    lm = plait.ScriptedLM(answer)
    run = stopped_run(store_path, lm)
    runner = ShardRunner()
    result = asyncio.run(runner.run(spec_of(store_path, run, lm), shard(run), LocalGate()))
    assert [o.status for o in result.items] == ["done"] * N and result.stopped is None
    assert lm.calls == LM_NODES * N  # the 9 recorded before the stop are not asked again
    states = {r.item_id: ItemState(r.item_id, i, {}) for i, r in enumerate(run.items)}
    store = plait.SQLiteStore(store_path)
    absorb(result, states, store, run.id, plait.compile(Diamond()).plan)
    reference = plait.compile(Diamond()).run(items(N), ids=ids(N), store=False, lm=plait.ScriptedLM(answer))
    assert [states[i].outputs for i in ids(N)] == [dict(o) for o in reference.outputs]
    store.close()
    runner.close()


def test_a_shard_recording_under_a_lost_lease_is_refused(store_path):
    lm = plait.ScriptedLM(answer)
    run = stopped_run(store_path, lm)
    store = plait.SQLiteStore(store_path)
    before = store.journal(run.id)
    store.acquire_lease(run.id, "the-new-driver", ttl=60)  # a resume took the run over
    with pytest.raises(plait.LeaseHeld, match=f"this process lost run {run.id} to another process"):
        asyncio.run(ShardRunner().run(spec_of(store_path, run, lm, owner="the-dead-driver"), shard(run), LocalGate()))
    assert store.journal(run.id) == before  # nothing recorded under the lost lease
    store.close()


def test_a_shard_reads_only_its_items_rows(store_path):
    lm = plait.ScriptedLM(answer)
    run = stopped_run(store_path, lm)
    store = plait.SQLiteStore(store_path)
    everything = store.journal(run.id)
    first = store.journal(run.id, [ids(N)[0]])
    assert first and first == {k: v for k, v in everything.items() if k[0] == ids(N)[0]}
    assert store.journal(run.id, []) == {}
    store.close()


def test_run_limits_admit_exactly_the_budget_counting_what_was_spent():
    limits = RunLimits(plait.Budget(lm_calls=5), (3, 0, 0.0), {})
    verdicts = [limits.enter("lm", 10)[0] for _ in range(4)]
    assert verdicts == ["go", "go", "stop", "stop"]
    assert limits.enter("lm", 10) == ("stop", "lm_calls", 5, 5) and limits.spent()["lm_calls"] == 5


def test_a_rate_limit_kept_for_the_run_makes_later_callers_wait():
    keeper = LimitKeeper()
    keeper.open("run:a", None, (0, 0, 0.0), {"gpt": plait.RateLimit(requests_per_minute=60)})
    waits = [keeper.enter("run:a", "gpt", 0)[1] for _ in range(3)]
    assert waits[0] == 0.0 and 0.9 < waits[1] <= 1.0 and 1.9 < waits[2] <= 2.0  # one a second, in order
    assert keeper.enter("run:a", "other", 0) == ("go", 0.0)
    keeper.close("run:a")
    keeper.leave("run:a", "gpt", 0, None)  # a late report of a closed run changes nothing


def ok(task) -> str:
    return "ok"


def test_breakers_rate_limits_and_scripted_lms_travel_to_another_process(tmp_path):
    calls = tmp_path / "calls"
    lm = plait.ScriptedLM(ok, calls_file=str(calls))
    lm.rate_limit, lm.breaker = plait.RateLimit(requests_per_minute=10), plait.CircuitBreaker(failures=2)
    copy = pickle.loads(pickle.dumps(lm))
    assert copy.rate_limit.reserve(0, 0.0) == 0.0 and copy.breaker.acquire(0.0)
    request = LMRequest([{"role": "user", "content": "hi"}])
    assert asyncio.run(copy.acall(request)).text == asyncio.run(lm.acall(request)).text == "ok"
    assert calls.read_text().count("\n") == 2  # both append to the one calls file

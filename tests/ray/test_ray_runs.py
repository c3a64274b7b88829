"""Runs on a real Ray cluster give what the local executor gives, item for item: the same outputs,
statuses, errors and journal, for run, resume, rerun, people in the loop and an optimizer; and a
budget and a rate limit hold for the whole run, not per worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import plait
from plait.checkpoints.stores import using_store
from tests.crash.child import count_calls
from tests.crash.pipeline_job import items
from tests.human_programs import Reviewed, draft_lm
from tests.integration.test_optimizers_fewshot import DEV, TRAIN, Reverse, exact
from tests.integration.test_optimizers_random_search import needs_three_demos, search
from tests.ray.conftest import ray_env
from tests.ray.programs import LM_NODES, Diamond, TimedAnswer, dataset, ids, scripted

NOTEBOOK = Path(__file__).with_name("notebook_job.py")


def results(run: plait.Run) -> list[tuple]:
    return [(r.item_id, r.status, dict(r.outputs) if r.outputs is not None else None, r.error) for r in run.items]


def journal(store: str, run_id: str) -> dict[tuple, tuple]:
    with using_store(store) as opened:
        rows = opened.journal(run_id).values()
    return {(r.item_id, r.node_id): (r.content_key, r.value_hash, r.status, r.attempts) for r in rows}


def shards_run(cluster) -> int:
    return sum(worker["shards"] for worker in cluster.describe())


def test_a_run_on_ray_gives_the_local_results_item_for_item(cluster, tmp_path, shared_store):
    n, compiled = 24, plait.compile(Diamond())
    local_db, ray_db = str(tmp_path / "local.db"), shared_store("ray")
    local = compiled.run(dataset(n), ids=ids(n), store=local_db, lm=scripted())
    before = shards_run(cluster)
    on_ray = compiled.run(dataset(n), ids=ids(n), store=ray_db, lm=scripted(), executor=cluster, concurrency=2)
    assert results(on_ray) == results(local)
    assert on_ray.status == local.status == "failed"
    assert [r.status for r in on_ray.items].count("failed") == 2  # one never parses, one fails validation
    assert "cannot be parsed" in on_ray.items[3].error and "has no field 'question'" in on_ray.items[5].error
    assert isinstance(on_ray.items[3].exception, plait.OutputParseError)
    assert journal(ray_db, on_ray.id) == journal(local_db, local.id)
    assert on_ray.stats.lm_calls == local.stats.lm_calls and on_ray.stats.failed_nodes == local.stats.failed_nodes
    assert shards_run(cluster) - before == 4  # 23 runnable items in shards of 6, over both workers
    assert all(worker["shards"] > 0 for worker in cluster.describe())


def test_resume_and_rerun_on_ray_match_the_local_ones(cluster, tmp_path, shared_store):
    n, compiled = 5, plait.compile(Diamond())  # a garbled item, no invalid one (a local rerun refuses those)
    local_db, ray_db = str(tmp_path / "local.db"), shared_store("ray")
    local = compiled.run(dataset(n), ids=ids(n), store=local_db, lm=scripted())
    on_ray = compiled.run(dataset(n), ids=ids(n), store=ray_db, lm=scripted(), executor="local")
    resumed = plait.resume(on_ray.id, store=ray_db, lm=scripted(), executor=cluster)
    assert results(resumed) == results(local) and resumed.stats.lm_calls == 0
    local_fork = plait.rerun(local.id, from_node="diamond.right", store=local_db, lm=scripted())
    ray_fork = plait.rerun(on_ray.id, from_node="diamond.right", store=ray_db, lm=scripted(),
                           executor=cluster)
    assert results(ray_fork) == results(local_fork)
    assert journal(ray_db, ray_fork.id) == journal(local_db, local_fork.id)
    # the root and the left branch come from the parent run; the right branch and the join run again
    assert ray_fork.stats.lm_calls == local_fork.stats.lm_calls == 2 * (n - 1)


def test_people_in_the_loop_on_ray_wait_and_resume_after_an_answer(cluster, shared_store):
    store, topics = shared_store(), [{"topic": t} for t in ("cats", "dogs", "owls")]
    run = plait.compile(Reviewed()).run(topics, store=store, lm=draft_lm(), executor=cluster)
    assert run.status == "waiting" and [r.status for r in run.items] == ["waiting"] * 3
    assert sorted((q.item_id, q.node_id) for q in run.pending()) == [(i, "reviewed.review") for i in "012"]
    assert run.items[1].question.context == {"draft": "about dogs"}
    plait.answer(run.id, "1", "reviewed.review", {"approved": True, "comment": "ok"}, store=store)
    resumed = plait.resume(run.id, store=store, lm=draft_lm(), executor=cluster)
    assert [r.status for r in resumed.items] == ["waiting", "done", "waiting"]
    assert resumed.outputs[1].final == "PUBLISHED: about dogs (ok)" and resumed.stats.lm_calls == 0


def test_a_budget_holds_for_the_whole_run_across_workers(cluster, tmp_path, shared_store):
    n, store, calls = 20, shared_store(), tmp_path / "calls"
    compiled = plait.compile(Diamond())
    run = compiled.run(items(n), ids=ids(n), store=store, lm=scripted(str(calls), latency=0.02), concurrency=2,
                       executor=cluster, budget=plait.Budget(lm_calls=30))
    assert run.status == "stopped" and "budget of 30 LM calls" in run.stop_reason
    assert count_calls(calls) == 30  # admitted one by one by the run's limits actor: never more
    resumed = plait.resume(run.id, store=store, lm=scripted(str(calls)), executor=cluster,
                           budget=plait.Budget(lm_calls=LM_NODES * n))
    assert resumed.status == "done" and count_calls(calls) == LM_NODES * n  # nothing recorded was asked again
    reference = compiled.run(items(n), ids=ids(n), store=str(tmp_path / "ref.db"), lm=scripted())
    assert results(resumed) == results(reference)


def test_a_rate_limit_holds_for_the_whole_run_across_workers(cluster, tmp_path, shared_store):
    stamps, n = tmp_path / "stamps", 8
    lm = plait.ScriptedLM(TimedAnswer(str(stamps)))
    limit = plait.RateLimit(requests_per_minute=20 * 60, burst=0.1)  # 20 calls a second, 2 at once
    run = plait.compile(Diamond()).run(items(n), ids=ids(n), store=shared_store(), lm=lm,
                                       executor=cluster, rate_limits={lm.name: limit})
    assert run.status == "done"
    times = sorted(float(line) for line in stamps.read_text().split())
    assert len(times) == LM_NODES * n
    # 32 calls at 20 a second after a burst of 2 take 1.5 s, and no second sees much more than 20 of
    # them (a little more: a call starts when its worker wakes); per-worker buckets would halve the
    # time and let through 40 a second
    assert times[-1] - times[0] >= 1.3
    assert max(sum(t <= s + 1.0 for t in times[i:]) for i, s in enumerate(times)) <= 26


def test_an_optimizer_fans_its_evaluations_out_and_chooses_as_locally(cluster, tmp_path, shared_store):
    def optimize(store, **options):
        return plait.compile(Reverse(), optimizer=search(seed=3), trainset=TRAIN, valset=DEV[:5], metric=exact,
                             store=store, lm=plait.ScriptedLM(needs_three_demos), **options)

    local = optimize(str(tmp_path / "local.db"))
    before = shards_run(cluster)
    on_ray = optimize(shared_store("ray"), executor=cluster)
    assert on_ray.plan.node("reverse.rev").params.demos == local.plan.node("reverse.rev").params.demos
    assert on_ray.plan.node("reverse.rev").params.provenance == local.plan.node("reverse.rev").params.provenance
    assert shards_run(cluster) - before >= 6  # the teacher run and every trial's evaluation ran on the workers
    lm = plait.ScriptedLM(needs_three_demos)
    evaluation = plait.evaluate(on_ray, DEV, exact, store=shared_store("ray"), lm=lm, executor=cluster)
    assert evaluation.score == plait.evaluate(local, DEV, exact, store=str(tmp_path / "local.db"), lm=lm).score == 1.0



def test_steps_defined_in_a_notebook_or_script_travel_to_the_workers(ray_address, shared_store, tmp_path):
    proc = subprocess.run([sys.executable, str(NOTEBOOK), shared_store(), ray_address], env=ray_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert result == {"status": "done", "outputs": [{"loud": f"ABOUT {q.upper()}!"} for q in ("cats", "owls", "rain")]}

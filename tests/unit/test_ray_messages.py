"""Errors of distributed runs say what was expected, what was found and the fix; none needs a cluster
(each is raised before Ray is reached)."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

import plait
from plait.runtime.options import RunJob, RunOptions
from plait.checkpoints.null import NullStore
from plait.cli import cli
from plait.runtime.executors import resolve_executor
from plait.runtime.ray_executor import RayRun, import_ray, store_locator, worker_lost, workers_cannot_start
from plait.runtime.shards import RunSpec, ShardItem, load_plan
from tests.crash.pipeline_job import answer
from tests.ray.programs import Diamond


def test_an_unknown_executor_names_the_choices():
    with pytest.raises(plait.PlaitError) as caught:
        plait.compile(Diamond()).run([{"question": "q"}], store=False, lm=plait.ScriptedLM(answer), executor="spark")
    text = str(caught.value)
    assert "unknown executor 'spark'" in text and "expected: 'local', 'ray' or plait.RayExecutor(...)" in text
    assert "fix: pass executor='ray'" in text


def test_a_distributed_run_needs_a_store_its_workers_can_open(tmp_path):
    with pytest.raises(plait.PlaitError) as caught:
        store_locator(NullStore())
    text = str(caught.value)
    assert "a distributed run needs a store that every worker can open" in text and "found:    ':none:'" in text
    assert "fix: pass store='runs.db' on one machine, or store='postgresql://...' for a cluster" in text
    assert store_locator(plait.SQLiteStore(tmp_path / "runs.db")) == str(tmp_path / "runs.db")


def test_a_fake_clock_is_refused_on_ray(tmp_path):
    compiled = plait.compile(Diamond())
    job = RunJob(compiled.plan, plait.SQLiteStore(tmp_path / "runs.db"), "r1", {},
                 RunOptions(lm=plait.ScriptedLM(answer), clock=plait.FakeClock()), None, frozenset(), print, None)
    with pytest.raises(plait.PlaitError, match="clock= cannot be used with a distributed executor") as caught:
        RayRun(plait.RayExecutor(), job)
    assert "fix: run with a FakeClock locally (executor=None), or drop clock= on Ray" in str(caught.value)


def test_a_missing_lm_fails_on_the_driver_before_any_worker_starts(tmp_path):
    job = RunJob(plait.compile(Diamond()).plan, plait.SQLiteStore(tmp_path / "runs.db"), "r1", {}, RunOptions(),
                 None, frozenset(), print, None)
    with pytest.raises(plait.PlaitError, match="node 'diamond.root' needs an LM, and none is configured"):
        RayRun(plait.RayExecutor(), job)


def test_invalid_ray_executor_settings_are_refused():
    with pytest.raises(plait.PlaitError) as caught:
        plait.RayExecutor(workers=0)
    assert "RayExecutor: invalid workers" in str(caught.value) and "found:    0" in str(caught.value)


def test_without_ray_installed_the_fix_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without ray looks like to import
    with pytest.raises(plait.PlaitError) as caught:
        import_ray()
    assert "executor='ray' needs Ray, which is not installed" in str(caught.value)
    assert "fix: pip install 'plait[ray]'" in str(caught.value)


def test_workers_that_keep_dying_or_cannot_start_say_what_to_do():
    shard = [ShardItem("item-7", 7, {})]
    lost = str(worker_lost("r1", shard, 4, RuntimeError("The actor died unexpectedly\nmore")))
    assert "Ray workers died 4 times running items item-7.. (1 items) of run r1" in lost
    assert "found:    RuntimeError: The actor died unexpectedly" in lost and "plait resume r1 --executor ray" in lost
    broken = str(workers_cannot_start(RuntimeError("No module named 'plait'")))
    assert "plait's Ray workers cannot start" in broken and "No module named 'plait'" in broken
    assert "runtime_env={'py_modules'" in broken


def test_a_plan_whose_steps_a_worker_cannot_import_says_to_move_them_into_a_module(tmp_path):
    store = plait.SQLiteStore(tmp_path / "runs.db")
    plan = plait.compile(Diamond()).to_json()
    plan["nodes"].insert(1, {**plan["nodes"][1], "id": "diamond.clean", "op": "step",
                             "params": {"path": "__main__:clean", "version": "1", "reusable": True}})
    plan_hash = store.save_plan(json.dumps(plan, sort_keys=True))
    spec = RunSpec(str(tmp_path / "runs.db"), "r1", plan_hash, None, RunOptions(), plait.lm.config.Settings())
    with pytest.raises(plait.PlanLoadError) as caught:
        load_plan(store, spec)
    text = str(caught.value)
    assert "a worker cannot load the plan of run r1: cannot import __main__:clean" in text
    assert "fix: make the module importable on the cluster: plait.RayExecutor(runtime_env=" in text


def test_the_cli_refuses_a_ray_address_without_the_ray_executor(tmp_path):
    store = str(tmp_path / "runs.db")
    run = plait.compile(Diamond()).run([{"question": "q"}], store=store, lm=plait.ScriptedLM(answer))
    result = CliRunner().invoke(cli, ["resume", run.id, "--store", store, "--ray-address", "127.0.0.1:6379",
                                      "--lm", "scripted:tests.ray.programs:cli_lm"])
    assert result.exit_code == 2
    assert "--ray-address is given without --executor ray" in result.output
    assert "fix: add --executor ray, or drop --ray-address" in result.output


def test_resolving_executors():
    assert resolve_executor(None) is None and resolve_executor("local") is None
    made = resolve_executor("ray", keep_workers=True)
    assert isinstance(made, plait.RayExecutor) and made.keep_workers and resolve_executor(made) is made

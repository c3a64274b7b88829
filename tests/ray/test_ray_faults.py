"""Faults on a real Ray cluster: a worker SIGKILLed mid-run, a driver SIGKILLed mid-run, two drivers
resuming one run. Outputs are compared with an uninterrupted local run; LM calls are counted in a
file every process appends to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import plait
from plait.checkpoints.lease import is_active
from plait.checkpoints.stores import using_store
from tests.crash.child import TIMEOUT, Child, count_calls
from tests.crash.pipeline_job import items
from tests.ray.conftest import ray_env
from tests.ray.programs import LM_NODES, Diamond, ids, scripted

DRIVER = Path(__file__).with_name("driver_job.py")
CLI_LM = "scripted:tests.ray.programs:cli_lm"


def reference(tmp_path: Path, n: int) -> list[dict]:
    run = plait.compile(Diamond()).run(items(n), ids=ids(n), store=str(tmp_path / "reference.db"), lm=scripted())
    return [dict(o) for o in run.outputs]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {TIMEOUT} s"
        time.sleep(0.01)


def plait_cli(*args: str, calls: Path, cwd: Path, latency: float = 0.0) -> subprocess.Popen:
    env = {**ray_env(), "PLAIT_TEST_CALLS": str(calls), "PLAIT_TEST_LATENCY": str(latency)}
    return subprocess.Popen([sys.executable, "-m", "plait.cli", *args, "--lm", CLI_LM, "--json"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_worker_costs_only_the_calls_it_had_in_flight(cluster, tmp_path, shared_store):
    n, store, calls = 40, shared_store(), tmp_path / "calls"
    victim = cluster.describe()[0]["pid"]
    finished: list[plait.Run] = []
    driver = threading.Thread(target=lambda: finished.append(plait.compile(Diamond()).run(
        items(n), ids=ids(n), store=store, lm=scripted(str(calls), latency=0.05), concurrency=2, executor=cluster)))
    driver.start()
    wait_for(lambda: count_calls(calls) >= 24, "24 LM calls")
    os.kill(victim, signal.SIGKILL)
    driver.join(TIMEOUT)
    (run,) = finished
    assert run.status == "done" and [dict(o) for o in run.outputs] == reference(tmp_path, n)
    repeated = count_calls(calls) - LM_NODES * n
    # in flight on the killed worker: 2 items (concurrency) x 2 parallel branches at most
    assert 0 <= repeated <= 2 * 2
    assert victim not in [w["pid"] for w in cluster.describe()]  # Ray restarted the worker's actor


def test_a_killed_driver_is_finished_by_plait_resume_on_ray(ray_address, tmp_path, children, shared_store):
    n, store, calls = 30, shared_store(), tmp_path / "calls"
    driver = Child(DRIVER, tmp_path, "driver", store, str(calls), str(n), ray_address, "0.05", env=ray_env())
    children.append(driver)
    driver.kill_at(calls, 20)
    (run_id,) = driver.lines("RUN ")
    resume = plait_cli("resume", run_id, "--store", store, "--executor", "ray", "--ray-address", ray_address,
                       calls=calls, cwd=tmp_path)
    out, err = resume.communicate(timeout=TIMEOUT)
    assert resume.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "done" and result["run_id"] == run_id
    assert [r["outputs"] for r in result["results"]] == reference(tmp_path, n)
    assert [r["id"] for r in result["results"]] == ids(n)


def test_two_drivers_resuming_one_run_exactly_one_proceeds(ray_address, tmp_path, shared_store):
    n, store, calls = 16, shared_store(), tmp_path / "calls"
    stopped = plait.compile(Diamond()).run(items(n), ids=ids(n), store=store, lm=scripted(),
                                           budget=plait.Budget(lm_calls=8))
    assert stopped.status == "stopped"
    args = ("resume", stopped.id, "--store", store, "--executor", "ray", "--ray-address", ray_address)
    first = plait_cli(*args, "--concurrency", "2", calls=calls, cwd=tmp_path, latency=0.1)  # busy for seconds
    with using_store(store) as opened:
        wait_for(lambda: is_active(opened.lease(stopped.id)), "lease taken by the first driver")
    second = plait_cli(*args, calls=calls, cwd=tmp_path)
    out, err = second.communicate(timeout=TIMEOUT)
    assert second.returncode == 1, err
    refusal = json.loads(out)["error"]
    assert f"run {stopped.id} is being run by another process" in refusal["message"]
    assert "fix: wait for that process to finish" in refusal["message"]
    out, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err
    assert json.loads(out)["status"] == "done"
    assert count_calls(calls) == LM_NODES * n - 8  # the second driver made none

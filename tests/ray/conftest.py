"""A real Ray cluster for the Ray tests: a head (2 CPUs) and a second node (1 CPU) on this machine,
started once per session with ``ray start`` and stopped at its end, failed tests included.

The nodes listen on 127.0.0.2: Ray replaces 127.0.0.1 (and localhost) with the machine's outward
address, and these tests must keep their traffic on the loopback range. Each ``ray start`` runs
in a session of its own, so that stopping the cluster ends exactly the processes it started (its
process group: GCS, raylet, agents; the workers exit with their raylet), not every Ray process on
the machine as ``ray stop`` would. The workers import plait from this checkout (PYTHONPATH).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import plait
from tests.crash.child import children  # noqa: F401 (a fixture)
from tests.stores import KINDS

HOST = "127.0.0.2"
REPO = str(Path(__file__).resolve().parents[2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# A local Ray started once on this machine (ray.init(), a bench) leaves ~/.ray/auth_token behind, and
# a later `ray start --head` then asks for that token while a joining node does not send it: the test
# cluster, on loopback only, turns token authentication off for all its processes and drivers.
NO_AUTH = {"RAY_AUTH_MODE": "disabled"}


def ray_env() -> dict[str, str]:
    """The environment of the cluster's processes and of the tests' driver processes."""
    path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **NO_AUTH, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": path, "RAY_DEDUP_LOGS": "0"}


def _ray_start(temp: str, *args: str) -> subprocess.Popen:
    ray = str(Path(sys.executable).with_name("ray"))
    with open(Path(temp) / "start.log", "ab") as log:
        proc = subprocess.Popen([ray, "start", f"--node-ip-address={HOST}", "--disable-usage-stats", *args],
                                stdout=log, stderr=log, env=ray_env(), start_new_session=True)
        if proc.wait(120) != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{(Path(temp) / 'start.log').read_text()[-3000:]}")
    return proc


def _stop(groups: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
        time.sleep(2 if sig == signal.SIGTERM else 0)


@pytest.fixture(scope="session")
def ray_address():
    """The address of a head and one more node, for the session."""
    temp = tempfile.mkdtemp(prefix="plait-ray-", dir="/tmp")  # Ray's socket paths must stay short
    port, groups = _free_port(), []
    saved = {k: os.environ.get(k) for k in NO_AUTH}
    os.environ.update(NO_AUTH)  # this process is a driver too
    try:
        groups.append(_ray_start(temp, "--head", "--num-cpus=2", f"--port={port}", f"--temp-dir={temp}",
                                 "--include-dashboard=false").pid)
        groups.append(_ray_start(temp, f"--address={HOST}:{port}", "--num-cpus=1").pid)
        yield f"{HOST}:{port}"
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        _stop(groups)
        shutil.rmtree(temp, ignore_errors=True)
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture(scope="session")
def cluster(ray_address):
    """Two workers for the session's runs: started once, their models and plans kept between tests."""
    with plait.RayExecutor(address=ray_address, workers=2) as executor:
        executor.describe()  # wait until both workers are up, so the first test does not pay for it
        yield executor


@pytest.fixture(params=KINDS)
def shared_store(request, tmp_path):
    """The stores a test's driver and workers share, by name: an SQLite file (the workers run on this
    machine), or a database on the session's PostgreSQL server. Every worker opens it by this string."""
    server = request.getfixturevalue("pg_server") if request.param == "postgres" else None
    made: dict[str, str] = {}

    def named(name: str = "runs") -> str:
        if name not in made:
            made[name] = server.new_database() if server else str(tmp_path / f"{name}.db")
        return made[name]

    yield named
    for url in made.values() if server else ():
        server.drop_database(url)

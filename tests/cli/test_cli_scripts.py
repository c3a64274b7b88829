"""Steps, types and pipelines defined in a script run as ``__main__`` (``python app.py`` or
``python -m pkg.app``): the saved plan names where they really live, so that ``plait show``,
``plait graph`` and ``plait resume`` in another process load them, without running the script's
``if __name__ == "__main__":`` block again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import plait
from tests.cli.test_cli import LM, ROOT
from tests.crash.child import Child, children, count_calls  # noqa: F401 (children: a fixture)

SCRIPT = Path(__file__).with_name("script_job.py")


def _plait(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PLAIT_LM", None)
    return subprocess.run([sys.executable, "-m", "plait.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _plan_text(store: Path) -> str:
    opened = plait.SQLiteStore(store)
    try:
        return opened.load_plan(opened.list_runs()[-1].plan_hash)
    finally:
        opened.close()


def test_a_killed_script_run_is_shown_drawn_and_resumed_by_the_cli(tmp_path, children):
    app = tmp_path / "elsewhere" / "job.py"  # not under the directory plait runs in, nor on sys.path
    app.parent.mkdir()
    shutil.copy(SCRIPT, app)
    store, calls = tmp_path / "runs.db", tmp_path / "calls.txt"
    child = Child(app, tmp_path, "job", str(store), str(calls), "4", "--hang-after", "2")
    children.append(child)
    assert child.kill_at(calls, 3) == 3  # two items recorded, the third in flight
    assert f'"{app.resolve()}:measure"' in _plan_text(store) and '"__main__:' not in _plan_text(store)

    shown = _plait(ROOT, "show", "latest", "--store", str(store), "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["run"]["status"] == "interrupted"
    assert report["items"][0]["outputs"] == {"verdict": {"word": "A-Q0", "length": 4}}
    drawn = _plait(ROOT, "graph", "latest", "-o", str(tmp_path / "run.svg"), "--store", str(store))
    assert drawn.returncode == 0, drawn.stderr
    assert "measure" in (tmp_path / "run.svg").read_text()

    resumed = _plait(ROOT, "resume", "latest", "--lm", LM, "--store", str(store), "--json")
    assert resumed.returncode == 0, resumed.stderr
    done = json.loads(resumed.stdout)
    assert f"plait: resuming run {done['run_id']}: 4 of 8 nodes recorded" in resumed.stderr
    assert done["status"] == "done" and done["stats"]["replayed"] >= 4
    outputs = [r["outputs"]["verdict"] for r in done["results"]]
    assert outputs[0] == {"word": "A-Q0", "length": 4} and outputs[3] == {"word": "ANSWER<Q3>", "length": 10}
    assert count_calls(calls) == 3  # loading the script never ran its __main__ block


def test_a_run_started_with_python_dash_m_names_its_module(tmp_path):
    package = tmp_path / "jobs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(SCRIPT, package / "nightly.py")
    store, calls = tmp_path / "runs.db", tmp_path / "calls.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ran = subprocess.run([sys.executable, "-m", "jobs.nightly", str(store), str(calls), "2"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert '"jobs.nightly:measure"' in _plan_text(store) and '"jobs.nightly:Verdict"' in _plan_text(store)
    shown = _plait(tmp_path, "show", "latest", "--store", str(store), "--json")
    assert shown.returncode == 0, shown.stderr
    assert [i["outputs"] for i in json.loads(shown.stdout)["items"]][1] == {"verdict": {"word": "A-Q1", "length": 4}}
    assert count_calls(calls) == 2

"""Every module of plait imports first in a fresh process, whatever plait/__init__.py imports and
in what order (tests/import_first.py forks one process per module)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import import_first

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_imports_first_in_a_fresh_process():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "import_first.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}, "\n\n".join(f"{job} failed:\n{tb}" for job, tb in report["failed"].items())
    skipped = {"__main__.py"}  # a program, run with python -m
    files = [p for p in (ROOT / "plait").rglob("*.py") if p.name not in skipped and p != ROOT / "plait" / "__init__.py"]
    assert len(report["checked"]) == len(files)


def test_only_the_demo_and_the_command_line_import_the_package_plait_itself():
    users = import_first.public_api_users(import_first.module_names())
    assert users and all(m.startswith(("plait.cli", "plait.demo")) for m in users), users

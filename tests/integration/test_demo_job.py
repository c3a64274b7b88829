"""The main job on the real embedded model: interrupt it, run it again, nothing is repeated."""

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.local_model

COMMAND = [sys.executable, "-m", "plait.demo", "--train", "8", "--dev", "8", "--quiet"]


def _ok_rows(db) -> int:
    try:
        return sqlite3.connect(db).execute("SELECT COUNT(*) FROM journal WHERE status='ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_interrupt_then_rerun_picks_up_from_the_checkpoints(tmp_path):
    db = tmp_path / "demo.db"
    child = subprocess.Popen([*COMMAND, "--dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 120
    while _ok_rows(db) < 12 and child.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)  # Ctrl-C
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, (out, err)
    assert "interrupted: every finished node is checkpointed" in err
    recorded = _ok_rows(db)

    again = subprocess.run([*COMMAND, "--dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert "| compiled (BootstrapFewShot) |" in again.stdout, again.stderr
    reused = int(again.stdout.split(" node results reused")[0].rsplit(", ", 1)[1])
    assert reused >= recorded - 8  # the interrupted phase's items replay (outputs rows are not node results)
    assert (tmp_path / "demo_plan.json").exists()

    third = subprocess.run([*COMMAND, "--dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert "this invocation: 0 LM calls" in third.stdout

"""A job script run in a real child process, SIGKILLed once a calls file reaches a count: what the
crash tests share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TIMEOUT = 60.0


def count_calls(calls_file: Path) -> int:
    """Lines in a calls file (one per LM or tool call); 0 before the first call."""
    try:
        return calls_file.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


class Child:
    """One run of ``job`` (a script) with ``args``, its stdout and stderr in files under ``tmp``."""

    def __init__(self, job: Path | str, tmp: Path, name: str, *args: str, env: dict | None = None) -> None:
        self.out, self.err = tmp / f"{name}.out", tmp / f"{name}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, str(job), *args], stdout=out, stderr=err, cwd=tmp,
                                         env=env)

    def lines(self, prefix: str) -> list[str]:
        return [line[len(prefix):].strip() for line in self.out.read_text().splitlines() if line.startswith(prefix)]

    def kill_at(self, calls_file: Path, threshold: int) -> int:
        """SIGKILL once the calls file has ``threshold`` lines; the count after the process is gone."""
        deadline = time.monotonic() + TIMEOUT
        while count_calls(calls_file) < threshold:
            assert self.proc.poll() is None, f"the child exited before {threshold} calls:\n{self.err.read_text()}"
            assert time.monotonic() < deadline, f"no {threshold} calls within {TIMEOUT}s"
            time.sleep(0.0005)
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(TIMEOUT) == -signal.SIGKILL
        return count_calls(calls_file)

    def finish(self) -> dict:
        rc = self.proc.wait(TIMEOUT)
        assert rc == 0, f"the child exited with {rc}:\n{self.err.read_text()}"
        (result,) = self.lines("RESULT ")
        return json.loads(result)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def children():
    started: list[Child] = []
    yield started
    for child in started:  # a failed assertion must not leave a child running
        child.stop()

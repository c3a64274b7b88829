"""The optuna study of a search, journaled beside the checkpoint store so that it resumes.

The study lives in ``<store>.optuna/<optimization id>.log``, an optuna JournalStorage file (an
append-only log, no database server). A process killed mid-append can leave a torn last line; it
is cut before the study opens. The file lock is ``flock``, which the OS releases when a process
dies, so a killed search never leaves a stale lock behind (optuna's default symlink lock would
make the next run wait out a grace period).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import BaseJournalFileLock  # the documented base of file locks
from optuna.trial import TrialState

from plait.checkpoints.location import local_path


class FlockLock(BaseJournalFileLock):
    """An exclusive ``flock`` on a side file: released by the OS when the process dies."""

    def __init__(self, path: str) -> None:
        self._path, self._fd = path, None

    def acquire(self) -> bool:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def study_path(store_path: str | None, name: str, directory: str | Path | None = None) -> Path | None:
    """Where the study of optimization ``name`` is journaled; None for a store that keeps nothing."""
    if directory is None:
        if not store_path or store_path.startswith(":"):
            return None
        directory = f"{local_path(store_path)}.optuna"  # for a store on a server: under .plait/
    Path(directory).mkdir(parents=True, exist_ok=True)
    return Path(directory) / f"{name}.log"


def open_study(path: Path | None, name: str) -> optuna.Study:
    """The study, created or loaded; trials a killed process left running are marked failed (the
    sampler ignores failed trials, so the search goes on exactly as if they had never started)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage: Any = None
    if path is not None:
        lock = FlockLock(f"{path}.lock")
        lock.acquire()
        try:
            _cut_torn_line(path)
        finally:
            lock.release()
        storage = JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
    return study


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The finished trials, in the order they were asked."""
    return sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)


def _cut_torn_line(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)

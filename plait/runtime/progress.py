"""A tqdm progress bar fed by the run's event stream (notebook-aware through tqdm.auto), and
whether to show one: quiet mode is ``progress=False`` on a run, ``plait.configure(progress=False)``
for the process, or ``PLAIT_PROGRESS=0`` in the environment (in that order of precedence)."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

from plait.lm import config
from plait.runtime import events as ev

_OFF, _ON = {"0", "false", "no", "off"}, {"1", "true", "yes", "on"}


def show_progress(requested: bool | None, items: int) -> bool:
    """Whether a run over ``items`` items shows a bar: the run's ``progress=``, else the
    configured default, else ``$PLAIT_PROGRESS``, else only for several items on a terminal or in Jupyter."""
    if requested is not None:
        return requested
    if config.current().progress is not None:
        return config.current().progress
    env = os.environ.get("PLAIT_PROGRESS", "").strip().lower()
    if env in _OFF or env in _ON:
        return env in _ON
    return items > 1 and (sys.stderr.isatty() or _in_jupyter())


def _in_jupyter() -> bool:
    """A Jupyter kernel is running this code (merely importing ipykernel, as nbclient may, is not)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class ProgressBar:
    def __init__(self, total: int, desc: str = "plait") -> None:
        self._bar = tqdm(total=total, desc=desc, unit="item", dynamic_ncols=True, leave=True)
        self._lm = self._failed = self._reused = self._waiting = 0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.NodeFinished):
            if event.source == "lm":
                self._lm += 1
            elif event.source in ("cache", "replay"):
                self._reused += 1
        elif isinstance(event, ev.ItemFinished):
            self._failed += event.status == "failed"
            self._waiting += event.status == "waiting"
            self._bar.update(1)
            waiting = {"waiting": self._waiting} if self._waiting else {}
            self._bar.set_postfix(lm=self._lm, reused=self._reused, failed=self._failed, **waiting, refresh=False)
        elif isinstance(event, ev.RunFinished):
            self._bar.close()

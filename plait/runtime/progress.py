"""A tqdm progress bar fed by the run's event stream (notebook-aware through tqdm.auto), and
whether to show one: quiet mode is ``progress=False`` on a run, ``plait.configure(progress=False)``
for the process, or ``PLAIT_PROGRESS=0`` in the environment (in that order of precedence)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

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


def resuming_line(event: ev.RunStarted) -> str:
    """What a run says when it continues from its journal."""
    return f"resuming run {event.run_id}: {event.recorded} of {event.node_runs} nodes recorded"


class ProgressBar:
    """A bar over the run's node executions (items x the nodes that compute), so that its rate and
    ETA come from node completions: an item's first nodes finish long before any item does, and an
    ETA from items was off tenfold early on. Nodes recorded before count as done from the start (and
    not in the rate); a failed or waiting item's nodes that will not run count when it ends."""

    def __init__(self, total: int, desc: str = "plait") -> None:
        self._items, self._desc = total, desc
        self._bar: Any = None
        self._per_item = 0
        self._counted: Counter[str] = Counter()  # per item: node executions the bar counts
        self._lm = self._failed = self._reused = self._waiting = self._ended = 0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self._start(event)
        elif self._bar is None:
            return
        elif isinstance(event, ev.NodeFinished):
            self._node(event)
        elif isinstance(event, ev.ItemFinished):
            self._item(event)
        elif isinstance(event, ev.RunFinished):
            self._bar.close()

    def _start(self, event: ev.RunStarted) -> None:
        total = event.node_runs or event.items
        self._per_item = total // max(event.items, 1)
        self._bar = tqdm(total=total, initial=event.recorded, desc=self._desc, unit="node", dynamic_ncols=True,
                         leave=True)
        if event.resumed:
            self._bar.write(resuming_line(event), file=sys.stderr)

    def _node(self, event: ev.NodeFinished) -> None:
        self._lm += event.source == "lm"
        self._reused += event.source in ("cache", "replay")
        self._counted[event.item_id] += 1
        if event.source != "replay":  # a replayed node is among the recorded ones the bar started at
            self._bar.update(1)

    def _item(self, event: ev.ItemFinished) -> None:
        self._failed += event.status == "failed"
        self._waiting += event.status == "waiting"
        self._ended += 1
        self._bar.update(max(0, self._per_item - self._counted.pop(event.item_id, 0)))
        waiting = {"waiting": self._waiting} if self._waiting else {}
        self._bar.set_postfix(items=f"{self._ended}/{self._items}", lm=self._lm, reused=self._reused,
                              failed=self._failed, **waiting, refresh=False)

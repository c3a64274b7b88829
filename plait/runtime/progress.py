"""A tqdm progress bar fed by the run's event stream (notebook-aware through tqdm.auto)."""

from __future__ import annotations

from tqdm.auto import tqdm

from plait.runtime import events as ev


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

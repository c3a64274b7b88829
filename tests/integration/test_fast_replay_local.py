"""A finished run of the embedded model replays straight from its rows (plait/runtime/replay.py):
no LM call, the same outputs, every item replayed in full."""

from __future__ import annotations

import pytest

from tests.local_model import require_local_model

require_local_model()
import plait  # noqa: E402
from plait.runtime import events as ev  # noqa: E402
from tests.integration.test_fast_replay import spy_on_fast_replay  # noqa: E402

pytestmark = pytest.mark.local_model


class TwoHops(plait.Module):
    def __init__(self):
        self.answer = plait.Predict("question -> answer")
        self.shorten = plait.Predict("answer -> short")

    def forward(self, question: str):
        return self.shorten(answer=self.answer(question=question).answer)


def test_a_finished_local_model_run_replays_from_its_rows_with_no_call(tmp_path, monkeypatch):
    store = str(tmp_path / "runs.db")
    questions = [{"question": "Capital of France?"}, {"question": "Two plus two?"}]
    first = plait.compile(TwoHops()).run(questions, store=store, lm=plait.LocalLM(max_tokens=16), progress=False)
    assert first.status == "done" and first.stats.lm_calls >= 4
    replayed: list[str] = []
    spy_on_fast_replay(monkeypatch, replayed)
    events: list[ev.Event] = []
    again = plait.resume(first.id, store=store, lm=plait.LocalLM(max_tokens=16), progress=False,
                         on_event=events.append)
    assert again.status == "done" and replayed == ["0", "1"]
    assert again.stats.lm_calls == 0 and not any(isinstance(e, ev.LMCalled) for e in events)
    assert [dict(r.outputs) for r in again.items] == [dict(r.outputs) for r in first.items]
    assert again.stats.replayed == 4 and again.totals.lm_calls == first.totals.lm_calls

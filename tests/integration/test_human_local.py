"""People in the loop with the real embedded model (SmolLM2-135M): the model drafts, the run
waits for a review, the answer comes later, the resume finishes with no new model call."""

from __future__ import annotations

import sqlite3

import pytest

import plait
from tests.human_programs import Reviewed

from tests.local_model import require_local_model

local = require_local_model()
pytestmark = pytest.mark.local_model


def test_the_local_model_drafts_a_person_reviews_later_and_resume_calls_it_no_more(store_path):
    lm = plait.LocalLM(max_tokens=64)
    compiled = plait.compile(Reviewed())
    run = compiled.run([{"topic": "cats"}, {"topic": "rain"}], store=store_path, lm=lm, progress=False)
    assert run.status == "waiting" and run.stats.lm_calls == 2
    drafts = [q.context["draft"] for q in run.pending()]
    assert all(isinstance(d, str) and d for d in drafts)
    plait.answer(run.id, "0", "reviewed.review", {"approved": True, "comment": "fine"}, store=store_path)
    plait.answer(run.id, "1", "reviewed.review", {"approved": False, "comment": "too short"}, store=store_path)
    done = plait.resume(run.id, store=store_path, lm=plait.LocalLM(max_tokens=64), progress=False)
    assert done.status == "done" and done.stats.lm_calls == 0 and done.stats.replayed == 2
    assert done.outputs[0].final == f"PUBLISHED: {drafts[0]} (fine)"
    assert done.outputs[1].final == f"REJECTED: {drafts[1]} (too short)"
    sources = sqlite3.connect(store_path).execute(
        "SELECT source, COUNT(*) FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " GROUP BY source ORDER BY source", (run.id,)).fetchall()
    assert sources == [("human", 2), ("lm", 2), ("output", 2), ("step", 2)]

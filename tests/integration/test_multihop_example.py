"""examples/multihop.py on the embedded SmolLM2-135M: it completes, its retrievals are journaled
nodes, and a second run makes no LM call and no retrieval. The 135M model's answers are not
judged here; only that the pipeline runs and is durable."""

import sqlite3

import pytest

import plait

from tests.local_model import require_local_model

local = require_local_model()

from examples.multihop import MultiHop, world  # noqa: E402

pytestmark = [pytest.mark.local_model, pytest.mark.slow]


def test_multihop_runs_on_the_local_model_and_a_rerun_is_free(tmp_path):
    store = str(tmp_path / "runs.db")
    questions = world()[1][:2]
    lm = plait.LocalLM(max_tokens=32)
    program = MultiHop(index_dir=str(tmp_path / "indexes"))
    compiled = plait.compile(program)
    run = compiled.run(questions, store=store, lm=lm, progress=False)
    assert run.status == "done", run.failed
    assert all(isinstance(o.answer, str) and o.answer for o in run.outputs)
    assert run.stats.lm_calls >= 3 * len(questions)  # two queries and an answer per question
    assert program.retrieve.retriever().calls == 2 * len(questions)

    nodes = [n for (n,) in sqlite3.connect(store).execute(
        "SELECT node_id FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND status='ok' AND node_id LIKE 'multi_hop.retrieve%'", (run.id,))]
    assert sorted(set(nodes)) == ["multi_hop.retrieve", "multi_hop.retrieve#1"] and len(nodes) == 2 * len(questions)

    fresh = MultiHop(index_dir=str(tmp_path / "indexes"))
    again = plait.compile(fresh).run(questions, store=store, lm=lm, progress=False)
    assert again.stats.lm_calls == 0 and again.stats.steps == 0 and fresh.retrieve.retriever().calls == 0
    assert again.outputs == run.outputs

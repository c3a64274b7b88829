"""Retrieval results are node outputs: recorded, replayed on resume, reused by content key."""

import sqlite3

import plait

FACTS = [
    {"id": "paris", "text": "Paris is the capital of France."},
    {"id": "lima", "text": "Lima is the capital of Peru."},
    {"id": "oslo", "text": "Oslo is the capital of Norway."},
    {"id": "cats", "text": "Cats sleep most of the day."},
    {"id": "andes", "text": "The Andes run through Peru and Chile."},
]
ITEMS = [{"question": q} for q in ("capital of Peru", "capital of Norway", "capital of France", "Andes",
                                   "cats sleep", "Chile mountains")]


class RAG(plait.Module):
    def __init__(self, corpus, index_dir):
        self.retrieve = plait.Retrieve(corpus, k=2, index_dir=index_dir)
        self.answer = plait.Predict("context: list[str], question -> answer")

    def forward(self, question: str):
        return self.answer(context=self.retrieve(query=question).passages, question=question)


def first_passage(task):
    return {"answer": task.inputs["context"][0]}


def _pipeline(tmp_path, corpus=FACTS):
    program = RAG(corpus, str(tmp_path / "indexes"))
    return plait.compile(program), program.retrieve.retriever()


def test_a_run_records_each_retrieval_in_the_journal(tmp_path, store_path):
    compiled, retriever = _pipeline(tmp_path)
    run = compiled.run(ITEMS, store=store_path, lm=plait.ScriptedLM(first_passage))
    assert run.status == "done" and run.outputs[0].answer == "Lima is the capital of Peru."
    assert retriever.calls == len(ITEMS) and run.stats.steps == len(ITEMS)
    rows = sqlite3.connect(store_path).execute(
        "SELECT COUNT(*) FROM journal WHERE run_no=(SELECT run_no FROM runs WHERE run_id=?)"
        " AND node_id='rag.retrieve' AND status='ok'", (run.id,)).fetchone()
    assert rows[0] == len(ITEMS)


def test_resume_after_a_stop_replays_recorded_retrievals_and_runs_each_once(tmp_path, store_path):
    compiled, retriever = _pipeline(tmp_path)
    lm = plait.ScriptedLM(first_passage)
    stopped = compiled.run(ITEMS, store=store_path, lm=lm, concurrency=1, budget=plait.Budget(lm_calls=2))
    before = retriever.calls
    assert stopped.status == "stopped" and stopped.stats.lm_calls == 2 and 2 <= before < len(ITEMS)
    # The plan comes back from the store: a new Retriever, rebuilt from the saved spec.
    finished = plait.resume(stopped.id, store=store_path, lm=lm)
    assert finished.status == "done" and finished.stats.replayed == before + 2  # retrievals + 2 answers
    assert before + finished.stats.steps == len(ITEMS)  # every retrieval ran exactly once in all
    assert lm.calls == len(ITEMS)
    assert [o.answer for o in finished.outputs][:2] == ["Lima is the capital of Peru.", "Oslo is the capital of Norway."]


def test_resume_of_a_finished_run_makes_no_retrieval_and_no_lm_call(tmp_path, store_path):
    compiled, retriever = _pipeline(tmp_path)
    lm = plait.ScriptedLM(first_passage)
    first = compiled.run(ITEMS, store=store_path, lm=lm)
    again = plait.resume(first.id, store=store_path, lm=lm, pipeline=compiled)
    assert retriever.calls == len(ITEMS) and lm.calls == len(ITEMS)
    assert again.stats.steps == 0 and again.stats.lm_calls == 0 and again.outputs == first.outputs


def test_a_new_run_over_the_same_corpus_reuses_every_retrieval_by_content_key(tmp_path, store_path):
    compiled, _ = _pipeline(tmp_path)
    lm = plait.ScriptedLM(first_passage)
    first = compiled.run(ITEMS, store=store_path, lm=lm)
    fresh, retriever = _pipeline(tmp_path)  # a new program object, as in a new process
    second = fresh.run(ITEMS, store=store_path, lm=lm)
    assert retriever.calls == 0 and retriever.builds == 0
    assert second.stats.steps == 0 and second.stats.lm_calls == 0
    assert second.stats.cache_hits == 2 * len(ITEMS) and second.outputs == first.outputs


def test_an_edited_corpus_reruns_retrieval_and_only_the_answers_whose_passages_changed(tmp_path, store_path):
    compiled, _ = _pipeline(tmp_path)
    lm = plait.ScriptedLM(first_passage, record=True)
    compiled.run(ITEMS, store=store_path, lm=lm)
    lm.requests.clear()
    edited = FACTS[:3] + [{"id": "cats", "text": "Cats sleep most of the day, and purr."}] + FACTS[4:]
    changed, retriever = _pipeline(tmp_path, edited)
    run = changed.run(ITEMS, store=store_path, lm=lm)
    assert retriever.calls == len(ITEMS) and retriever.builds == 1  # new fingerprint: every retrieval reruns
    asked = [r.task.inputs["question"] for r in lm.requests]
    assert "cats sleep" in asked  # its passages changed, so its answer recomputes
    assert "capital of Norway" not in asked  # same passages: early cutoff, the answer is reused
    assert run.stats.lm_calls == len(asked) < len(ITEMS)

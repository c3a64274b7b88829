"""Retrieve's BM25 index: ranking, the content-keyed index directory, persistence, fingerprints."""

import json
import warnings

import pytest

import plait
from plait.pipeline.retrieval import keyed

FACTS = [
    {"id": "paris", "text": "Paris is the capital of France."},
    {"id": "lima", "text": "Lima is the capital of Peru."},
    {"id": "cats", "text": "Cats sleep most of the day."},
    {"id": "andes", "text": "The Andes run through Peru and Chile."},
]


class RAG(plait.Module):
    def __init__(self, corpus, k=2, **options):
        self.retrieve = plait.Retrieve(corpus, k=k, **options)

    def forward(self, question: str):
        return self.retrieve(query=question)


def test_bm25_ranks_the_passage_sharing_the_rare_words_first(tmp_path):
    hits = plait.Retrieve(FACTS, k=3, index_dir=tmp_path)(query="capital of Peru")
    assert hits.ids[0] == "lima" and hits.passages[0] == "Lima is the capital of Peru."
    assert len(hits.ids) == 3 and hits.scores == sorted(hits.scores, reverse=True)
    assert "cats" not in hits.ids[:2]


def test_k_above_the_corpus_size_returns_every_passage(tmp_path):
    hits = plait.Retrieve(["one apple", "two pears"], k=10, index_dir=tmp_path)(query="apple")
    assert hits.passages == ["one apple", "two pears"] and hits.ids == ["0", "1"]


def test_the_index_is_built_once_and_reused_by_a_new_retriever_with_the_same_corpus(tmp_path):
    first = plait.Retrieve(FACTS, index_dir=tmp_path).retriever()
    a = first("capital of Peru")
    second = plait.Retrieve([dict(f) for f in FACTS], index_dir=tmp_path).retriever()
    assert second("capital of Peru") == a
    assert (first.builds, second.builds) == (1, 0)
    assert first.directory == second.directory == tmp_path / first.index_key
    assert [p.name for p in tmp_path.iterdir()] == [first.index_key]  # no scratch directory left


def test_an_edited_corpus_gets_a_new_key_and_a_new_index(tmp_path):
    old = plait.Retrieve(FACTS, index_dir=tmp_path).retriever()
    old("Peru")
    edited = FACTS[:-1] + [{"id": "andes", "text": "The Andes run through Peru, Chile and Bolivia."}]
    new = plait.Retrieve(edited, index_dir=tmp_path).retriever()
    assert new("Bolivia")["ids"][0] == "andes"
    assert new.index_key != old.index_key and new.builds == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([old.index_key, new.index_key])


def test_the_saved_index_records_its_key_and_library_and_a_stale_one_is_rebuilt(tmp_path):
    retriever = plait.Retrieve(FACTS, index_dir=tmp_path).retriever()
    expected = retriever("capital of France")
    meta_path = retriever.directory / keyed.META
    meta = json.loads(meta_path.read_text())
    assert meta["key"] == retriever.index_key and meta["passages"] == 4 and meta["library"] == "bm25s"
    meta_path.write_text(json.dumps({**meta, "library_version": "0.0.1"}))
    again = plait.Retrieve(FACTS, index_dir=tmp_path).retriever()
    assert again("capital of France") == expected and again.builds == 1
    assert json.loads(meta_path.read_text())["library_version"] == meta["library_version"]


def test_the_default_index_folder_is_beside_the_default_store(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAIT_STORE", str(tmp_path / "runs.db"))
    monkeypatch.delenv("PLAIT_INDEX_DIR", raising=False)
    retriever = plait.Retrieve(FACTS).retriever()
    retriever("Peru")
    assert retriever.directory == tmp_path / "indexes" / retriever.index_key and retriever.directory.is_dir()


def test_jsonl_and_text_files_are_corpora(tmp_path):
    jsonl = tmp_path / "facts.jsonl"
    jsonl.write_text("".join(json.dumps(f) + "\n" for f in FACTS) + '\n"A bare string is a passage too."\n')
    text = tmp_path / "facts.txt"
    text.write_text("Paris is the capital of France.\n\nLima is the capital of Peru.\n")
    from_jsonl = plait.Retrieve(jsonl, k=1, index_dir=tmp_path / "ix")(query="bare string")
    from_text = plait.Retrieve(str(text), k=1, index_dir=tmp_path / "ix")(query="Lima")
    assert from_jsonl.ids == ["4"] and from_jsonl.passages == ["A bare string is a passage too."]
    assert from_text.passages == ["Lima is the capital of Peru."] and from_text.ids == ["1"]


def _retrieve_node(corpus, **options):
    return plait.compile(RAG(corpus, **options)).plan.node("rag.retrieve")


def test_the_fingerprint_follows_the_corpus_content_and_k_not_the_index_folder(tmp_path):
    base = _retrieve_node(FACTS, index_dir=tmp_path / "a")
    assert _retrieve_node([dict(f) for f in FACTS], index_dir=tmp_path / "b").fingerprint == base.fingerprint
    assert _retrieve_node(FACTS[:3], index_dir=tmp_path / "a").fingerprint != base.fingerprint
    assert _retrieve_node(FACTS, k=3, index_dir=tmp_path / "a").fingerprint != base.fingerprint
    assert base.params.version == base.params.search.version


def test_a_saved_plan_with_an_inline_corpus_loads_and_runs(tmp_path):
    compiled = plait.compile(RAG(FACTS, index_dir=str(tmp_path / "ix")))
    compiled.save(tmp_path / "plan.json")
    loaded = plait.CompiledPipeline.load(tmp_path / "plan.json")
    assert loaded == compiled
    assert loaded.plan.node("rag.retrieve").fingerprint == compiled.plan.node("rag.retrieve").fingerprint
    assert loaded(question="capital of Peru") == compiled(question="capital of Peru")
    spec = json.loads((tmp_path / "plan.json").read_text())
    saved = next(n for n in spec["nodes"] if n["id"] == "rag.retrieve")["params"]["spec"]
    assert saved["corpus"]["records"][1] == {"id": "lima", "text": "Lima is the capital of Peru."}


def test_a_saved_plan_with_a_corpus_file_rereads_it_and_sees_an_edit(tmp_path):
    path = tmp_path / "facts.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in FACTS))
    compiled = plait.compile(RAG(path, index_dir=str(tmp_path / "ix")))
    compiled.save(tmp_path / "plan.json")
    assert plait.CompiledPipeline.load(tmp_path / "plan.json")(question="Andes").ids[0] == "andes"
    path.write_text("".join(json.dumps(f) + "\n" for f in FACTS[:2]))
    with pytest.warns(UserWarning, match="rag.retrieve.*changed since the plan was saved"):
        edited = plait.CompiledPipeline.load(tmp_path / "plan.json")
    assert edited.plan.node("rag.retrieve").fingerprint != compiled.plan.node("rag.retrieve").fingerprint
    assert sorted(edited(question="Andes").ids) == ["lima", "paris"]  # the Andes fact is gone


def test_the_printed_plan_shows_the_retrieve_node_and_its_typed_outputs(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = str(plait.compile(RAG(FACTS, index_dir=tmp_path)))
    assert "rag.retrieve = retrieve[bm25, k=2](query=inputs.question)" in text
    assert "-> (passages: list[str], scores: list[float], ids: list[str])" in text

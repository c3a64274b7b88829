"""Retrieve's errors name the node, the field, the user's line and the fix."""

import json

import pytest

import plait
from plait.pipeline import retrieve as retrieve_module


class RAG(plait.Module):
    def __init__(self, corpus, **options):
        self.retrieve = plait.Retrieve(corpus, **options)  # the line every corpus error points at

    def forward(self, question: str):
        return self.retrieve(query=question)


def _construction_line() -> str:
    import inspect

    lines, start = inspect.getsourcelines(RAG.__init__)
    return f"test_retrieve_errors.py:{start + 1}"


def _compile_error(corpus, **options) -> plait.RetrievalError:
    with pytest.raises(plait.RetrievalError) as info:
        plait.compile(RAG(corpus, **options))
    return info.value


def test_an_empty_corpus_names_the_node_the_line_and_the_fix():
    message = str(_compile_error([]))
    assert "the corpus (a list) is empty" in message
    assert "node 'rag.retrieve', argument 'corpus'" in message and _construction_line() in message
    assert "fix: give Retrieve a corpus with at least one passage" in message


def test_a_missing_corpus_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere.jsonl"
    message = str(_compile_error(str(missing)))
    assert f"cannot read the corpus file {missing}" in message and "FileNotFoundError" in message
    assert "node 'rag.retrieve', argument 'corpus'" in message and _construction_line() in message
    assert "fix: check the path" in message


def test_a_bad_json_line_names_its_number(tmp_path):
    path = tmp_path / "facts.jsonl"
    path.write_text('{"text": "fine"}\n{"text": oops}\n')
    message = str(_compile_error(path))
    assert f"line 2 of the corpus file {path} is not JSON" in message and "fix: fix line 2" in message


def test_a_record_without_the_text_field_names_the_field_and_the_record():
    message = str(_compile_error([{"text": "ok"}, {"body": "no text here"}]))
    assert "record 2 of a list has no text field 'text'" in message
    assert "node 'rag.retrieve', text field 'text'" in message and _construction_line() in message
    assert "found:    keys ['body']" in message
    assert "fix: add 'text' to every record, or name the field: text_field='...'" in message


def test_a_renamed_text_field_is_read(tmp_path):
    hits = plait.Retrieve([{"body": "apples are red"}, {"body": "the sea is blue"}], k=1,
                          text_field="body", index_dir=tmp_path)(query="sea")
    assert hits.passages == ["the sea is blue"]


def test_a_jsonl_line_without_the_text_field_names_the_file_line(tmp_path):
    path = tmp_path / "facts.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"title": "x"}) + "\n")
    message = str(_compile_error(str(path)))
    assert f"line 2 of {path} has no text field 'text'" in message


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_k_must_be_a_positive_int(k):
    with pytest.raises(plait.RetrievalError) as info:
        plait.Retrieve(["a passage"], k=k)  # the line the error points at
    message = str(info.value)
    assert f"Retrieve needs a positive number of passages, got k={k!r}" in message
    assert "argument 'k' (test_retrieve_errors.py:" in message and "fix: pass k=3" in message


def test_an_unknown_method_lists_the_known_ones():
    with pytest.raises(plait.RetrievalError) as info:
        plait.Retrieve(["a passage"], method="tfidf")
    assert "Retrieve has no method 'tfidf'" in str(info.value) and "expected: 'bm25' or 'dense'" in str(info.value)


def test_dense_without_its_extra_says_what_to_install(monkeypatch):
    monkeypatch.setattr(retrieve_module, "dense_available", lambda: False)
    with pytest.raises(plait.RetrievalError) as info:
        plait.Retrieve(["a passage"], method="dense")
    message = str(info.value)
    assert "Retrieve(method='dense') needs the dense extra, which is not installed" in message
    assert "argument 'method' (test_retrieve_errors.py:" in message
    assert "fix: pip install 'plait[dense]', or use method='bm25'" in message


def test_a_corpus_of_only_stopwords_fails_its_node_with_a_clear_error(tmp_path):
    run = plait.compile(RAG(["a", "the of"], index_dir=tmp_path)).run([{"question": "the"}], store=False)
    assert run.items[0].status == "failed"
    assert "the corpus has no word BM25 can index" in run.items[0].error
    assert "node 'rag.retrieve', argument 'corpus'" in run.items[0].error and _construction_line() in run.items[0].error
    assert "fix: add real text to the passages, or use method='dense'" in run.items[0].error


def test_a_corpus_that_is_not_a_list_or_path():
    message = str(_compile_error(42))
    assert "the corpus is a int" in message and "expected: a list of strings or dicts" in message

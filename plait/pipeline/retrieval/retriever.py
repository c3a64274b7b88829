"""Retriever: the search of a RETRIEVE node (``RetrieveParams.search``). A query in; passages,
scores and ids out, all three stored as the node's output fields.

Its results are checkpointed, replayed and reused like any node's. Its ``index_key`` (corpus
content, method, index settings) and ``k`` make the node's key: edit the corpus and downstream
results recompute; leave it alone and they are reused. A saved plan stores it as its
``to_spec()``, and ``from_spec`` rebuilds it on load (the RETRIEVE rule in ``plait/ir/rules.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plait.errors import RetrievalError
from plait.hashing import stable_hash
from plait.pipeline.retrieval.corpus import Corpus, Where, load_corpus
from plait.pipeline.retrieval.indexes import INDEXES
from plait.pipeline.retrieval.keyed import default_root, index_key, open_index

PATH = "plait.pipeline.retrieval.retriever:Retriever"


class Retriever:
    """``retriever(query)`` -> ``{"passages": [...], "scores": [...], "ids": [...]}``, best first.

    ``calls`` counts the searches this object made and ``builds`` the indexes it built (a replayed
    or reused node makes neither): handy in tests and benchmarks.
    """

    def __init__(self, corpus: Corpus, method: str, k: int, *, index_dir: str | Path | None = None,
                 source: Any = None, where: Where = Where()) -> None:
        self.corpus = corpus
        self.method = method
        self.k = k
        self.index_dir = index_dir
        self.source = source  # what the corpus was given as: a path, or None for an inline list
        self.where = where  # the Retrieve node and line that errors at run time name
        self.index_key = index_key(corpus.hash, INDEXES[method])
        self.version = stable_hash({"index": self.index_key, "k": k})[:16]
        self.calls = 0
        self.builds = 0
        self._index: Any = None

    def __call__(self, query: str) -> dict[str, list]:
        hits = self._open().search(query, self.k)
        self.calls += 1
        return {"passages": [self.corpus.texts[i] for i, _ in hits],
                "scores": [score for _, score in hits],
                "ids": [self.corpus.ids[i] for i, _ in hits]}

    @property
    def directory(self) -> Path:
        """Where this retriever's index lives on disk."""
        root = Path(self.index_dir) if self.index_dir is not None else default_root()
        return root / self.index_key

    def _open(self) -> Any:
        if self._index is None:
            try:
                self._index, built = open_index(INDEXES[self.method], self.index_key, list(self.corpus.texts),
                                                self.directory.parent)
            except RetrievalError as exc:  # raised by the index, which knows no node
                exc.node, exc.source = exc.node or self.where.node, exc.source or self.where.source
                raise
            self.builds += built
        return self._index

    # --- saved plans --------------------------------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        """JSON that rebuilds this retriever: the corpus by path, or inline when it was a list."""
        if self.source is not None:
            corpus = {"path": self.source, "text_field": self.corpus.text_field, "id_field": self.corpus.id_field}
        else:
            corpus = {"records": [{"id": i, "text": t} for i, t in zip(self.corpus.ids, self.corpus.texts)]}
        return {"method": self.method, "k": self.k, "corpus": corpus, "index_dir": self.index_dir}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Retriever:
        saved = spec["corpus"]
        source = saved.get("path", saved.get("records"))
        corpus = load_corpus(source, saved.get("text_field", "text"), saved.get("id_field", "id"), Where())
        return cls(corpus, spec["method"], spec["k"], index_dir=spec.get("index_dir"), source=saved.get("path"))

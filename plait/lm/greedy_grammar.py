"""Greedy decoding under a grammar that checks the grammar on the model's first choice only.

llama-cpp-python's sampler chain applies the grammar to the whole vocabulary (49,152 tokens for
SmolLM2) before every greedy pick: measured, that costs nearly as much as decoding the token. Under
greedy decoding the answer is the same when the grammar checks only the highest-scoring token and
accepts it: the best token the grammar allows is then that token. Only when the grammar rejects it is
the whole vocabulary checked, as the chain would. (llama.cpp's own server samples this way.)

It stands in for the chain only where that chain is exactly "grammar, then greedy": temperature 0,
no penalties, no logits processor (see :func:`applies`).
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
import numpy as np

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


def applies(options: dict[str, Any]) -> bool:
    """Whether the chain ``Llama._init_sampler(**options)`` would build is "grammar, then greedy"."""
    return (options.get("grammar") is not None and options.get("temp") == 0.0
            and options.get("logits_processor") is None and options.get("repeat_penalty", 1.0) == 1.0
            and options.get("frequency_penalty", 0.0) == 0.0 and options.get("presence_penalty", 0.0) == 0.0)


class GreedyGrammarSampler:
    """What ``Llama.generate`` calls as its sampler: ``sample(ctx, idx)`` returns the next token."""

    def __init__(self, model: Any, grammar: Any) -> None:
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        self._n_vocab = model.n_vocab()
        self._one = (llama_cpp.llama_token_data * 1)()
        self._all = (llama_cpp.llama_token_data * self._n_vocab)()
        self._all_view = np.frombuffer(self._all, dtype=_TOKEN_DATA)
        self._all_view["id"] = np.arange(self._n_vocab, dtype=np.int32)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        pointer = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        token = int(np.argmax(logits))  # the first of equals, as llama.cpp's greedy sampler picks
        if not self._allows(token, float(logits[token])):
            token = self._best_allowed(logits)
        llama_cpp.llama_sampler_accept(self._grammar, token)
        return token

    def _allows(self, token: int, logit: float) -> bool:
        self._one[0].id, self._one[0].logit, self._one[0].p = token, logit, 0.0
        self._apply(self._one, 1)
        return self._one[0].logit != float("-inf")

    def _best_allowed(self, logits: np.ndarray) -> int:
        self._all_view["logit"] = logits
        self._all_view["p"] = 0.0
        self._apply(self._all, self._n_vocab)  # sets the logit of every token the grammar rejects to -inf
        return int(np.argmax(self._all_view["logit"]))

    def _apply(self, data: Any, size: int) -> None:
        candidates = llama_cpp.llama_token_data_array(data=data, size=size, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(candidates))

    def close(self) -> None:
        if self._grammar is not None:
            llama_cpp.llama_sampler_free(self._grammar)
            self._grammar = None

    def __del__(self) -> None:
        self.close()

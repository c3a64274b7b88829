"""The loaded instances of the embedded model, and the pool that hands them out to calls.

A llama.cpp context decodes one request at a time. On a small model (SmolLM2-135M) and few cores,
llama.cpp's threads spend much of each token waiting for each other at its barriers, so several
instances with fewer threads each, decoding several requests at once, do more work per second
than one instance using every core (bench/bench_model_pool.py). Each instance loads the weights
(the file is mmapped, so its pages are shared) and has its own KV cache and lock.

Instances are kept per (file, context size, thread count, index) for the process's life, loaded
on first use; a pool of ``size`` instances uses indices ``0 .. size-1``, so pools of different
sizes share their first instances. The pool's :class:`PrefixQueue` hands a free instance to a
call, the one whose last prompt shares the longest prefix with it (see prefix_queue.py).
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field
from typing import Any

from plait.lm.interrupt import raise_if_stopped
from plait.lm.prefix_queue import PrefixQueue
from plait.lm.protocol import LMError

# Prompt tokens always decoded afresh, see LoadedModel._forget_tail (2 sufficed in our tests).
_REDECODE = 8

ModelKey = tuple[str, int, int]  # the model file's path, the context size, the thread count


class LocalModelError(LMError):
    """The embedded model cannot be used (not installed, or a corrupt file). Never transient."""


@dataclass
class LoadedModel:
    """One ``llama_cpp.Llama``, the lock every generation on it holds, and how many tokens it
    evaluated (prompt tokens not reused from the KV cache, plus generated tokens): a measure of
    its work that, unlike seconds, does not depend on the machine's load."""

    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    evaluated: int = 0
    # Greedy grammar replies check the grammar on the model's first choice only (same tokens, see
    # plait/lm/greedy_grammar.py); False samples with llama-cpp-python's own chain.
    greedy_grammar: bool = True

    def __post_init__(self) -> None:
        evaluate = self.llama.eval

        def counting_eval(tokens: Any) -> None:
            self.evaluated += len(tokens)
            evaluate(tokens)

        self.llama.eval = counting_eval  # Llama.generate calls self.eval for prompt and replies alike
        self.llama._init_sampler = self._sampler_factory(self.llama._init_sampler)

    def _sampler_factory(self, chain: Any) -> Any:
        # Imported here: it imports llama_cpp, which this module loads only with the model.
        from plait.lm.greedy_grammar import GreedyGrammarSampler, applies

        def new_sampler(**options: Any) -> Any:
            if self.greedy_grammar and applies(options):
                return GreedyGrammarSampler(self.llama._model, options["grammar"])
            return chain(**options)

        return new_sampler

    def complete(self, messages: list[dict], grammar: Any, options: dict[str, Any]) -> dict:
        """llama-cpp-python's chat completion, decoded under ``grammar`` (None: free text)."""
        with self.lock:
            raise_if_stopped()  # cancelled while it waited for the model
            try:
                completion = self.llama.create_chat_completion(messages=messages, grammar=grammar, **options)
            except ValueError as exc:  # llama-cpp-python's error for a prompt longer than n_ctx
                self.llama.reset()
                raise LMError(f"llama.cpp rejected the request: {_rejection(exc)}") from exc
            except BaseException:
                self.llama.reset()
                raise
            self._forget_tail(completion["usage"]["prompt_tokens"])
            return completion

    def _forget_tail(self, prompt_tokens: int) -> None:
        # The KV cache keeps the longest common prefix with the next prompt (2-3x faster with
        # shared demos), but greedy output must not depend on what ran before. Logits of a token
        # decoded alone (the generated tokens; a repeated prompt's last token) differ in the last
        # bits from the same token decoded in a batch, and that flips a greedy choice now and then.
        # So keep only the prompt minus its tail: the next call decodes at least _REDECODE tokens
        # in one batch, as a cold start would.
        keep = max(0, prompt_tokens - _REDECODE)
        self.llama.n_tokens = min(self.llama.n_tokens, keep)


def _rejection(exc: ValueError) -> str:
    if isinstance(exc, UnicodeEncodeError):  # the tokenizer takes UTF-8, which has no lone surrogates
        return (f"the prompt holds a lone surrogate ({exc.object[exc.start:exc.end]!r}), which UTF-8 cannot "
                "encode; clean the text, e.g. text.encode('utf-8', 'replace').decode()")
    return str(exc)


class ModelPool:
    """``size`` instances of one model and the queue that gives each call one of them.

    Example::

        pool = model_pool((path, 2048, 1), size=2)  # the file, n_ctx, threads per instance
        async with pool.queue.turn(prompt) as slot:
            reply = await asyncio.to_thread(generate, pool.model(slot), prompt)
    """

    def __init__(self, key: ModelKey, size: int) -> None:
        self.key, self.size = key, size
        self.queue = PrefixQueue(slots=size)

    def model(self, slot: int) -> LoadedModel:
        """The instance behind ``slot``, loaded on first use (call it off the event loop)."""
        return loaded_model(self.key, slot)

    def models(self) -> list[LoadedModel]:
        """The instances loaded so far."""
        with _LOCK:
            return [_MODELS[(*self.key, i)] for i in range(self.size) if (*self.key, i) in _MODELS]


_MODELS: dict[tuple[str, int, int, int], LoadedModel] = {}
_POOLS: dict[tuple[str, int, int, int], ModelPool] = {}
_LOCK = threading.Lock()


def model_pool(key: ModelKey, size: int) -> ModelPool:
    """The process-wide pool of ``size`` instances of this model."""
    with _LOCK:
        if (*key, size) not in _POOLS:
            _POOLS[(*key, size)] = ModelPool(key, size)
        return _POOLS[(*key, size)]


def loaded_model(key: ModelKey, index: int = 0) -> LoadedModel:
    """Instance ``index`` of this model, loaded on first use and kept until exit."""
    with _LOCK:
        if not _MODELS:
            atexit.register(_close_models)
        if (*key, index) not in _MODELS:
            _MODELS[(*key, index)] = LoadedModel(new_llama(*key))
        return _MODELS[(*key, index)]


def evaluated_tokens() -> int:
    """The tokens every instance loaded so far has evaluated (see LoadedModel.evaluated)."""
    with _LOCK:
        return sum(model.evaluated for model in _MODELS.values())


def models_loaded() -> int:
    """How many instances this process has loaded (a Ray worker reports it, so that a test can see
    the model is loaded once per worker)."""
    return len(_MODELS)


def _close_models() -> None:
    # Free llama.cpp's memory while the interpreter is intact: left to Llama.__del__ at shutdown,
    # it runs after llama_cpp's module globals are gone and prints a TypeError traceback.
    with _LOCK:
        for model in _MODELS.values():
            model.llama._sampler = None  # a GreedyGrammarSampler frees its grammar before the vocabulary goes
            model.llama.close()
        _MODELS.clear()


def new_llama(path: str, n_ctx: int, n_threads: int) -> Any:
    """A fresh ``llama_cpp.Llama`` (not kept: :func:`loaded_model` keeps the ones calls use)."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        message = f"llama-cpp-python is not installed ({exc})\n  fix: pip install 'plait[local]'"
        raise LocalModelError(message) from exc
    # The seed here only initialises the context; every call passes its own seed. Prompts are
    # decoded with as many threads as replies (llama-cpp-python's default is every core), so that
    # a pool's instances together use no more threads than instances x n_threads.
    return Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, seed=0,
                 verbose=False)


def pool_shape(cores: int, max_concurrency: int, instances: int | None, n_threads: int | None) -> tuple[int, int]:
    """(instances, threads per instance): what is not given is chosen so that instances x threads
    <= cores, with as many instances as calls may be in flight (max_concurrency), up to the cores."""
    if instances is None:
        instances = max(1, min(max_concurrency, cores // (n_threads or 1)))
    return instances, n_threads or max(1, cores // instances)

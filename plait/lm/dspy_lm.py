"""Any provider through ``dspy.LM``: OpenAI, Anthropic, Ollama, vLLM, any OpenAI-compatible server.

DSPy routes the call (its native engine, or LiteLLM for what that engine cannot carry); plait
owns what surrounds it: retries and rate limits (DSPy's own retries and response cache are off
by default), checkpoints, usage and cost per node, and keeping credentials out of the store,
the logs and saved plans (plait/lm/secrets.py: a key is never part of the LM's identity, its
repr masks it, and its errors are scrubbed of it, wherever it came from).
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from typing import Any, Iterator, Mapping

import dspy
from dspy.utils import exceptions as dx

from plait.lm.protocol import LMError, LMRequest, LMResponse, Usage
from plait.lm.secrets import Scrubber, chain, is_sensitive, redact, safe_url

try:  # what ``dspy.LM.aforward`` runs, keeping the call's result (text, usage *and* cost)
    from dspy.clients.execution import aexecute as _aexecute
    from dspy.clients.execution import prepare as _prepare
except ImportError:  # pragma: no cover - another DSPy 3.4.x layout: aforward, cost when LiteLLM reports it
    _aexecute = _prepare = None

# Where and how to connect, not what to generate: kept out of the identity (api_base aside).
_CONNECTION = frozenset({"api_key", "api_base", "base_url", "headers", "extra_headers", "extra_query", "timeout",
                         "organization", "project", "azure_ad_token_provider"})


class DSPyLM:
    """A provider reached through ``dspy.LM``.

    Example::

        lm = plait.DSPyLM("openai/gpt-4o-mini", temperature=0.0)      # key from $OPENAI_API_KEY
        lm = plait.DSPyLM("openai/llama-3", api_base="http://localhost:8000/v1", api_key="...")
        lm = plait.DSPyLM(dspy.LM("anthropic/claude-sonnet-4-5"), adapter="json")
        plait.configure(lm=lm)

    ``model`` is a model string (``provider/name``, as DSPy and LiteLLM spell it; other keyword
    arguments go to ``dspy.LM``) or an existing ``dspy.LM``, which is copied, not changed.
    ``adapter`` is the prompt format this LM prefers ("chat" or "json"). ``cache=False`` and
    ``num_retries=0`` turn off DSPy's response cache and retries: plait checkpoints every call
    and retries transient errors itself. ``json_schema``: send a request's JSON schema as the
    provider's ``response_format``; turn it off for a server that rejects it.
    """

    def __init__(self, model: str | dspy.BaseLM, *, name: str | None = None, adapter: str = "chat",
                 max_concurrency: int = 16, cache: bool = False, num_retries: int = 0,
                 json_schema: bool = True, **kwargs: Any) -> None:
        if isinstance(model, dspy.BaseLM):
            self.lm = model.copy(num_retries=num_retries, **kwargs)
        else:
            self.lm = dspy.LM(model, cache=cache, num_retries=num_retries, **kwargs)
        self.name = name or self.lm.model
        self.adapter = adapter
        self.max_concurrency = max_concurrency
        self.cache = cache
        self.json_schema = json_schema

    @property
    def model(self) -> str:
        return self.lm.model

    def identity(self) -> dict[str, Any]:
        """The model, its decoding settings and its endpoint (without userinfo): never a
        credential, so changing only the key changes no content key and reuses every output."""
        settings = {k: v for k, v in self.lm.kwargs.items()
                    if v is not None and k not in _CONNECTION and not is_sensitive(k)}
        identity = {"backend": "dspy", "model": self.lm.model, "settings": _plain(redact(settings))}
        if self.lm.model_type != "chat":
            identity["model_type"] = self.lm.model_type
        if base := self._api_base():
            identity["api_base"] = base
        return identity

    async def acall(self, request: LMRequest) -> LMResponse:
        kwargs = {k: v for k, v in request.settings.items() if v is not None}
        if request.response_schema is not None and self.json_schema:
            kwargs["response_format"] = response_format(request.response_schema)
        try:
            text, usage, cost = await _complete(self.lm, request.messages, kwargs, self.cache)
        except Exception as exc:  # DSPy's, LiteLLM's and the transport's errors all become LMError
            error = self._error(exc)
        else:
            return LMResponse(text, Usage(int(usage.get("prompt_tokens") or 0),
                                          int(usage.get("completion_tokens") or 0), cost))
        raise error  # outside the handler: the provider's exception, which may quote a key, is not its context

    def missing_keys(self) -> list[str]:
        """The environment variables holding this provider's key that are unset (LiteLLM's list
        for the model: OPENAI_API_KEY for openai/..., ANTHROPIC_API_KEY for anthropic/...), when
        no ``api_key=`` was given; none for a server at ``api_base``, which may need no key."""
        if self.lm.kwargs.get("api_key") or self._api_base():
            return []
        import litellm  # here, not on import: DSPy loads it lazily too, and it is slow to import

        try:
            found = litellm.validate_environment(model=self.lm.model)
        except Exception:  # a model LiteLLM cannot place: the call itself will say what is wrong
            return []
        return [k for k in found.get("missing_keys") or [] if k.endswith(("_KEY", "_TOKEN"))]

    def credentials(self) -> dict[str, Any]:
        """The arguments this LM connects with; plait scrubs every credential among them (and
        the provider's environment variables) from errors (see plait/lm/secrets.py)."""
        return dict(self.lm.kwargs)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.lm.kwargs.items() if v is not None}
        args = "".join(f", {k}={v!r}" for k, v in redact(shown).items())
        return f"DSPyLM({self.lm.model!r}{args}, adapter={self.adapter!r})"

    def _api_base(self) -> str | None:
        base = self.lm.kwargs.get("api_base") or self.lm.kwargs.get("base_url")
        return safe_url(base) if isinstance(base, str) else None

    def _error(self, exc: Exception) -> LMError:
        what, transient, fix = classify(exc)
        status = _first(exc, "status", "status_code")
        detail = re.sub(r"^\[[^\]]*\]\s*", "", (str(exc).strip().splitlines() or [""])[0])[:300]
        where = f" at {base}" if (base := self._api_base()) else ""
        message = (f"{what}{f' (HTTP {status})' if isinstance(status, int) else ''} calling "
                   f"{self.lm.model}{where}: {detail or type(exc).__name__}{f'; {fix}' if fix else ''}")
        return LMError(Scrubber.for_lm(self).text(message), transient=transient,
                       retry_after=retry_after(exc) if transient else None)


def as_lm(lm: Any) -> Any:
    """``lm`` as a plait LM: a ``dspy.LM`` (any ``dspy.BaseLM``) is wrapped in :class:`DSPyLM`."""
    return DSPyLM(lm) if isinstance(lm, dspy.BaseLM) else lm


async def _complete(lm: dspy.BaseLM, messages: list[dict], kwargs: dict, cache: bool) -> tuple[str, dict, float | None]:
    """(text, usage, cost) of one call, touching no shared state.

    ``LM.aforward`` drops the cost on DSPy's native route, and ``lm.history[-1]`` is shared by
    every concurrent call; ``aexecute`` returns this call's own result, and records no history.
    """
    if _prepare is not None:
        call = _prepare(lm, None, messages, {**kwargs, "cache": cache}, asynchronous=True)
        result = await _aexecute(lm, call)
        return _text(result.outputs), dict(result.usage or {}), result.cost
    response = await lm.aforward(messages=messages, cache=cache, **kwargs)  # pragma: no cover
    cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    text = response.choices[0].message.content if response.choices else ""
    return text or "", dict(getattr(response, "usage", None) or {}), cost


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's ``response_format`` for a JSON schema (what LiteLLM and DSPy's engine translate)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "response"))[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


# What went wrong, whether retrying can help, and what to do; see classify() for the order.
_CONTEXT = ("the prompt exceeds the model's context window", False,
            "shorten the inputs or demos, or use a model with a longer context")
_AUTH = ("authentication failed", False, "check the API key: pass api_key= or set the provider's environment variable")
_RATE = ("rate limited", True, None)
_TIMEOUT = ("the request timed out", True, None)
_SERVER = ("the provider failed (server error)", True, None)
_UNREACHABLE = ("could not reach the provider", True, "check api_base and the network")
_MODEL = ("the provider does not serve this model", False, "check the model name and api_base")
_BAD = ("the provider rejected the request (bad request)", False, "check the model name and the decoding settings")

_BY_CLASS: tuple[tuple[type, tuple[str, bool, str | None]], ...] = (
    (dx.ContextWindowExceededError, _CONTEXT),
    (dx.LMAuthError, _AUTH),
    (dx.LMBillingError, ("the provider refused billing or quota", False, "check the account's billing and quota")),
    (dx.LMRateLimitError, _RATE),
    (dx.LMTimeoutError, _TIMEOUT),
    (dx.LMServerError, _SERVER),
    (dx.LMTransportError, _UNREACHABLE),
    (dx.LMLockTimeoutError, ("timed out waiting for a credential lock", True, None)),
    (dx.LMUnsupportedModelError, _MODEL),
    (dx.LMInvalidRequestError, _BAD),
    (dx.LMUnsupportedFeatureError, ("the provider does not support a requested feature", False, None)),
    (dx.LMConfigurationError, ("the LM is not configured correctly", False, None)),
)
# A status the provider chose on purpose decides over DSPy's reading of the body (OpenAI answers a
# bad key with 401 and type "invalid_request_error"); other statuses only when no class matched.
_DECISIVE = {401: _AUTH, 403: _AUTH, 408: _TIMEOUT, 429: _RATE}
_BY_STATUS = {400: _BAD, 404: _MODEL, 413: _CONTEXT, 422: _BAD}
_BY_TRANSPORT = (((TimeoutError, asyncio.TimeoutError), _TIMEOUT), ((ConnectionError,), _UNREACHABLE))


def classify(exc: BaseException) -> tuple[str, bool, str | None]:
    """(what happened, transient, fix) for an exception raised by a call through ``dspy.LM``.

    In order: a context-window error anywhere in the chain; a decisive HTTP status (401, 403,
    408, 429, 5xx); DSPy's error class (most specific first); another status; a transport error.
    """
    errors = list(chain(exc))
    status = _first(exc, "status", "status_code")
    if any(isinstance(e, dx.ContextWindowExceededError) or "ContextWindow" in type(e).__name__ for e in errors):
        return _CONTEXT
    if status in _DECISIVE or (isinstance(status, int) and status >= 500):
        return _DECISIVE.get(status, _SERVER)
    for cls, kind in _BY_CLASS:
        if isinstance(exc, cls):
            return kind
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    for types, kind in _BY_TRANSPORT:
        if any(isinstance(e, types) for e in errors):
            return kind
    return f"the call failed ({type(exc).__name__})", False, None


def retry_after(exc: BaseException) -> float | None:
    """Seconds to wait, from the error (DSPy reads Retry-After) or the response headers in its chain."""
    for error in chain(exc):
        seconds = getattr(error, "retry_after", None)
        if isinstance(seconds, (int, float)) and seconds >= 0:
            return float(seconds)
        for headers in _headers(error):
            if (seconds := _parse_retry_after(headers)) is not None:
                return seconds
    return None


def _headers(error: BaseException) -> Iterator[Mapping[str, str]]:
    response = getattr(error, "response", None)
    for headers in (getattr(response, "headers", None), getattr(error, "litellm_response_headers", None),
                    getattr(error, "headers", None), getattr(error, "rate_limit_headers", None)):
        if headers is not None and hasattr(headers, "items"):
            yield {str(k).lower(): str(v) for k, v in headers.items()}


def _parse_retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return max(0.0, float(value))
            except ValueError:  # an HTTP date
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
    return None


def _first(exc: BaseException, *names: str) -> Any:
    for error in chain(exc):
        for name in names:
            value = getattr(error, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def _text(outputs: list) -> str:
    if not outputs:
        return ""
    first = outputs[0]
    text = first.get("text") if isinstance(first, dict) else first
    return text or ""


def _plain(value: Any) -> Any:
    """JSON-safe settings for the identity (a DSPy config object becomes its repr)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)

"""The LM boundary: what the executor sends to a language model and what it gets back.

Every backend (the embedded model, any provider through ``dspy.LM``, the scripted LM of the
tests) implements :class:`LM`. The executor is the only caller, so this is where keys, retries,
rate limits, budgets and checkpoints attach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of one call, as far as the provider reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None and other.cost is None else (self.cost or 0.0) + (other.cost or 0.0)
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            cost,
        )

    def to_json(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "cost": self.cost}


@dataclass(frozen=True)
class LMTask:
    """The structured view of a request, for LMs that answer by field (the scripted LM).

    Real LMs ignore it and read ``messages``; the scripted LM reads both.
    """

    node_id: str
    signature_name: str
    instructions: str
    inputs: dict[str, Any]
    output_fields: tuple[str, ...]
    demos: tuple[dict[str, Any], ...] = ()
    signature: Any = None  # the DSPy Signature class, for replies formatted by an adapter


@dataclass(frozen=True)
class LMRequest:
    """One call: chat messages, decoding settings and, optionally, a JSON schema to follow."""

    messages: list[dict[str, str]]
    settings: dict[str, Any] = field(default_factory=dict)
    response_schema: dict[str, Any] | None = None
    task: LMTask | None = None
    adapter: str = "chat"  # the adapter that formatted the messages and will parse the reply


@dataclass(frozen=True)
class LMResponse:
    """The reply's text, what it cost, and why generation stopped: ``"stop"`` (the model ended it or a
    stop sequence did), ``"length"`` (it hit max_tokens), or None when the backend does not say."""

    text: str
    usage: Usage = Usage()
    finish_reason: str | None = None


@runtime_checkable
class LM(Protocol):
    """A language model the executor can call (docs/custom-lm.md shows how to write one).

    ``identity`` names the model and its decoding settings; it enters every content key, so two
    LMs that could answer differently must have different identities. It never holds a secret.
    ``max_concurrency`` bounds the calls in flight to this LM across the whole process.

    Two members are optional (:class:`LMBase` has both): ``adapter``, the name of the adapter that
    formats requests for this LM and parses its replies when neither the module nor
    ``plait.configure`` names one ("chat" when absent; plait/lm/adapters.py lists them), and
    ``credentials()``, the keyword arguments the LM connects with (``api_key``, ``headers``,
    ``api_base``...): the executor scrubs every credential among them, and those of the environment,
    from the LM's errors and replies before anything is recorded or shown (plait/lm/secrets.py).
    """

    name: str
    max_concurrency: int

    def identity(self) -> dict[str, Any]: ...

    async def acall(self, request: LMRequest) -> LMResponse: ...


class LMBase:
    """A base class for custom LMs, with the optional members of :class:`LM` filled in.

    Subclass it, set ``name``, and write ``identity`` and ``acall``::

        class Echo(plait.LMBase):
            name = "echo"
            def identity(self):
                return {"backend": "echo", "version": 1}
            async def acall(self, request):
                return plait.LMResponse(text=request.messages[-1]["content"])
    """

    name: str = "custom"
    max_concurrency: int = 8
    adapter: str = "chat"

    def identity(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__}.identity(): return what names this model and its settings")

    async def acall(self, request: LMRequest) -> LMResponse:
        raise NotImplementedError(f"{type(self).__name__}.acall(request): call the model, return an LMResponse")

    def credentials(self) -> dict[str, Any]:
        return {}


def adapter_of(lm: LM) -> str:
    """The adapter ``lm`` asks for: its ``adapter`` attribute, "chat" when it has none."""
    return getattr(lm, "adapter", None) or "chat"


class LMError(Exception):
    """An LM call failed. ``transient`` errors (rate limits, timeouts, 5xx) may be retried."""

    def __init__(self, message: str, *, transient: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after

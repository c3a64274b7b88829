"""plait's embedded model as a DSPy LM, so DSPy programs and optimizers can drive it too.

``DSPyLocalLM`` is a ``dspy.BaseLM`` whose every call goes through :class:`plait.LocalLM` (the same
SmolLM2-135M, the same llama.cpp context and lock). It honours ``response_format``: DSPy's
JSONAdapter asks for the signature's JSON schema, and llama.cpp then constrains decoding to it, as
plait's compact adapter does. It never caches (DSPy only caches LMs it manages itself), so its
counters are the real number of generations; copies made by DSPy share the counters.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import dspy
import pydantic

from plait.errors import PlaitError
from plait.lm.local import LocalLM
from plait.lm.protocol import LMRequest

# A JSON object with any keys: what {"type": "json_object"} means.
ANY_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass
class CallCounter:
    """Generations and tokens, shared by an LM and its copies; safe under DSPy's threads."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self.lock:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def reset(self) -> None:
        with self.lock:
            self.calls = self.prompt_tokens = self.completion_tokens = 0


class DSPyLocalLM(dspy.BaseLM):
    """The embedded SmolLM2-135M behind DSPy's LM interface.

    Example::

        lm = DSPyLocalLM(max_tokens=64)
        dspy.configure(lm=lm, adapter=dspy.JSONAdapter())
        dspy.Predict("question -> answer")(question="Capital of France?").answer
        lm.counter.calls  # 1
    """

    def __init__(self, local: LocalLM | None = None, *, max_tokens: int = 256, temperature: float = 0.0,
                 seed: int = 0) -> None:
        self.local = local or LocalLM(max_tokens=max_tokens, temperature=temperature, seed=seed)
        super().__init__(model=f"plait-local/{self.local.name}", temperature=temperature, max_tokens=max_tokens,
                         cache=False, num_retries=0, seed=seed)
        self.counter = CallCounter()

    @property
    def supported_params(self) -> set[str]:
        return {"response_format"}

    @property
    def supports_response_schema(self) -> bool:
        return True

    def forward(self, prompt: str | None = None, messages: list[dict] | None = None, **kwargs: Any) -> dict:
        """One generation, returned in the OpenAI chat-completion shape DSPy reads."""
        settings = {**self.kwargs, **kwargs}
        schema = schema_of(settings.pop("response_format", None))
        settings = {key: value for key, value in settings.items() if value is not None}
        messages = messages or [{"role": "user", "content": prompt or ""}]
        response = self.local.call(LMRequest(messages=messages, settings=settings, response_schema=schema))
        usage = response.usage
        self.counter.add(usage.prompt_tokens, usage.completion_tokens)
        return {
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": response.text},
                         "finish_reason": response.finish_reason or "stop"}],
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                      "total_tokens": usage.prompt_tokens + usage.completion_tokens},
        }

    async def aforward(self, prompt: str | None = None, messages: list[dict] | None = None, **kwargs: Any) -> dict:
        return await asyncio.to_thread(self.forward, prompt, messages, **kwargs)


def schema_of(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema a DSPy ``response_format`` asks for, or None for free text.

    DSPy passes a pydantic model class (JSONAdapter's structured outputs), an OpenAI-style dict
    (``{"type": "json_schema", "json_schema": {"schema": ...}}`` or ``{"type": "json_object"}``),
    or nothing.
    """
    if response_format is None:
        return None
    if isinstance(response_format, type) and issubclass(response_format, pydantic.BaseModel):
        return response_format.model_json_schema()
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            return spec.get("schema", ANY_OBJECT)
        if kind == "json_object":
            return ANY_OBJECT
        if kind == "text":
            return None
    raise PlaitError("DSPyLocalLM cannot follow this response_format", field="response_format",
                     expected="a pydantic model class or a dict of type json_schema, json_object or text",
                     found=repr(response_format)[:200],
                     fix="pass {'type': 'json_schema', 'json_schema': {'schema': <a JSON schema>}} or use dspy.JSONAdapter")

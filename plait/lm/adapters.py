"""Adapters turn (signature, demos, inputs) into chat messages and an LM's text back into fields.

Formatting and parsing reuse DSPy's adapters. The system message and the demo turns depend only
on the node's prompt state, so they are built once per (adapter, signature, demos) and reused for
every item: DSPy rebuilds them on every call, which costs more than the rest of a node execution.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from typing import Any, Protocol

import dspy

from plait.errors import PlanError, SettingError
from plait.ir.nodes import Node
from plait.lm import chat_text
from plait.lm.compact import CompactAdapter
from plait.lm.protocol import LMRequest, LMTask


class Adapter(Protocol):
    """Formats a request for a signature and parses the reply. ``name`` enters content keys."""

    name: str

    def format(self, signature: type[dspy.Signature], demos: tuple[dict, ...], inputs: dict[str, Any]) -> LMRequest: ...

    def parse(self, signature: type[dspy.Signature], text: str) -> dict[str, Any]: ...

    def format_reply(self, signature: type[dspy.Signature], outputs: dict[str, Any]) -> str:
        """The text an LM would reply with for ``outputs`` (used for demos and the scripted LM)."""
        ...


class ChatAdapter:
    """DSPy's ChatAdapter (``[[ ## field ## ]]`` sections), with the static prefix cached."""

    name = "chat"

    def __init__(self) -> None:
        self._dspy = dspy.ChatAdapter()
        self._prefix = lru_cache(maxsize=512)(self._build_prefix)
        self._requirements = lru_cache(maxsize=512)(lambda signature: self._dspy.user_message_output_requirements(signature))

    def format(self, signature, demos, inputs) -> LMRequest:
        prefix = self._prefix(signature, _freeze(demos))
        user = None
        if type(self._dspy) is dspy.ChatAdapter:  # the fast path copies ChatAdapter, not its subclasses
            user = chat_text.user_message(signature, inputs, self._requirements(signature))
        if user is None:
            user = self._dspy.format_user_message_content(signature, inputs, main_request=True)
        return LMRequest(messages=[*prefix, {"role": "user", "content": user}], adapter=self.name)

    def parse(self, signature, text: str) -> dict[str, Any]:
        if type(self._dspy) is dspy.ChatAdapter and (fields := chat_text.parse_reply(signature, text)) is not None:
            return fields
        return self._dspy.parse(signature, text)

    def format_reply(self, signature, outputs: dict[str, Any]) -> str:
        return self._dspy.format_assistant_message_content(signature, outputs)

    def _build_prefix(self, signature, frozen_demos: str) -> tuple[dict[str, str], ...]:
        demos = json.loads(frozen_demos)
        system = {"role": "system", "content": self._dspy.format_system_message(signature)}
        return (system, *self._dspy.format_demos(signature, demos))


class JSONAdapter(ChatAdapter):
    """DSPy's JSONAdapter: the reply is one JSON object with the output fields."""

    name = "json"

    def __init__(self) -> None:
        super().__init__()
        self._dspy = dspy.JSONAdapter()


def _freeze(demos: tuple[dict, ...]) -> str:
    # A hashable, order-stable key for the lru_cache; demos are JSON by construction.
    return json.dumps(list(demos), sort_keys=True, default=str) if demos else "[]"


# Adapters whose reply is one JSON object decoded under the output's JSON schema, where the LM
# supports it (the embedded model always does; a provider through response_format).
GRAMMAR_BACKED = ("compact", "json")


def reply_fix(adapter: str, finish_reason: str | None) -> str:
    """What to do about a reply ``adapter`` could not parse, by its cause; never suggests ``adapter``.

    ``finish_reason == "length"``: the LM stopped at max_tokens, mid-reply. Otherwise the LM did not
    follow the adapter's format.
    """
    bounded = [f"adapter='{name}'" for name in GRAMMAR_BACKED if name != adapter]
    if finish_reason == "length":
        grammar = f", or use a grammar-backed adapter ({' or '.join(bounded)})" if bounded else ""
        return ("the reply hit max_tokens before it was complete: raise max_tokens (Predict(..., max_tokens=...)), "
                f"bound the field (a Literal or a shorter type, demos with short answers){grammar}; "
                "the raw text is kept in the run's journal")
    others = " or ".join(f"'{name}'" for name in ADAPTERS if name != adapter)
    return (f"use an adapter this LM can follow (adapter={others}), add demos, or use a stronger LM; "
            "the raw text is kept in the run's journal")


def task_for(node_id: str, signature, demos: tuple[dict, ...], inputs: dict[str, Any]) -> LMTask:
    instructions, output_fields = _described(signature, signature.__doc__)
    return LMTask(node_id=node_id, signature_name=signature.__name__, instructions=instructions,
                  inputs=dict(inputs), output_fields=output_fields, demos=tuple(demos), signature=signature)


@lru_cache(maxsize=512)
def _described(signature, doc: str | None) -> tuple[str, tuple[str, ...]]:
    """A signature's instructions and output field names, which DSPy's properties rebuild on every
    read. ``doc``: where DSPy keeps the instructions (its setter writes ``__doc__``), so that
    instructions set in place are read afresh."""
    return signature.instructions, tuple(signature.output_fields)


ADAPTERS: dict[str, type] = {"chat": ChatAdapter, "json": JSONAdapter, "compact": CompactAdapter}


@lru_cache(maxsize=None)
def adapter_named(name: str) -> Adapter:
    """The process-wide adapter instance for ``name`` (adapters are stateless apart from caches)."""
    try:
        return ADAPTERS[name]()
    except KeyError:
        raise SettingError(f"unknown adapter {name!r}", expected=f"one of {sorted(ADAPTERS)}", found=repr(name),
                           fix=f"name one of plait's adapters: {', '.join(sorted(ADAPTERS))}") from None


def unknown_adapter(node: Node, name: str, *, given_by: str) -> PlanError:
    """A PREDICT node's adapter is not one plait has; ``given_by`` says where the name came from
    (the module's ``adapter=`` at compile time; ``plait.configure`` or the LM at run start)."""
    known = sorted(ADAPTERS)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return PlanError(f"node '{node.id}' uses unknown adapter '{name}' (given by {given_by})", node=node.id,
                     field="adapter", field_kind="parameter", source=node.source,
                     expected=f"one of {', '.join(known)}", found=repr(name),
                     fix=f"{hint}name one of the known adapters, or leave adapter out for the LM's preferred one")

"""Values a node cannot pass on: one that cannot be stored, and text no LM can be sent. Each fails
its one item, before the store or the LM is touched, with an error naming the node and the field."""

from __future__ import annotations

from typing import Any

from plait.checkpoints.codec import UnstorableValue, is_utf8
from plait.errors import NodeError
from plait.hashing import canonical_json
from plait.ir.nodes import Node, Op
from plait.ir.types import type_name
from plait.lm.protocol import LMRequest

# What always has a JSON form that reads back as itself.
PLAIN_DATA = ("str, numbers, bools, None, lists, dicts with str keys (no lone surrogates in keys), pydantic models, "
              "datetimes, enums")


def unstorable_error(node: Node, exc: UnstorableValue) -> NodeError:
    declared = node.output(exc.field)
    kind = "LM reply" if node.op is Op.PREDICT else "step result"
    return NodeError(
        f"the {kind} of node '{node.id}' cannot be stored: {exc}", node=node.id, field=exc.field,
        field_kind="output field", source=node.source,
        expected=f"a value of type {type_name(declared.type) if declared else 'the declared one'} with a JSON form",
        found=f"{exc.value!r}"[:200] + f" ({type(exc.value).__name__})",
        fix=f"return plain data ({PLAIN_DATA}), or declare the precise return type so that pydantic converts "
        "the value; then resume the run: only this node reruns")


def check_prompt(node: Node, request: LMRequest, inputs: dict[str, Any]) -> None:
    """Every LM is sent UTF-8 (llama.cpp's tokenizer, a provider's HTTP body), which has no encoding
    for a lone surrogate ("\\ud800", what json.loads makes of a legal escape in scraped text): such
    an item fails here, naming its field, instead of deep inside the LM call."""
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str) and not content.isascii() and not is_utf8(content):
            raise _surrogate_error(node, inputs)


def _surrogate_error(node: Node, inputs: dict[str, Any]) -> NodeError:
    field = next((name for name, value in inputs.items() if not is_utf8(_as_text(value))), None)
    text = _as_text(inputs[field]) if field else ""
    at = next((i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff"), 0)
    where = f"input '{field}'" if field else "a demo or the instructions"
    return NodeError(
        f"the prompt of node '{node.id}' cannot be sent to the LM: {where} holds a lone surrogate "
        f"(at character {at})", node=node.id, field=field, field_kind="input", source=node.source,
        expected="text that UTF-8 can encode (a surrogate only as half of a pair)",
        found=repr(text[max(0, at - 40):at + 40]) if field else "a lone surrogate in the prompt",
        fix="clean the text (text.encode('utf-8', 'replace').decode()) in the data and run again, which "
        "reuses the other items' results; or in a @plait.step before this node, then resume with that pipeline")


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value)

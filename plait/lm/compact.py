"""A compact prompt format for small local models, answered with JSON-schema constrained decoding.

SmolLM2-135M cannot follow DSPy's ``[[ ## field ## ]]`` chat format, but it follows short
``field: value`` prompts well, and few-shot demos lift its accuracy a lot. The reply format is a
single JSON object; the request carries its JSON schema so llama.cpp can constrain decoding to it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import pydantic
from pydantic_core import to_jsonable_python

from plait.errors import ReplyFormatError, SettingError
from plait.lm.protocol import LMRequest

# A whole reply wrapped in a Markdown code fence, with or without a language tag.
_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?\s*```$", re.DOTALL)


class CompactAdapter:
    """Short ``field: value`` prompts and a JSON-object reply with a schema, for tiny models.

    Example::

        class QA(dspy.Signature):
            \"\"\"Answer with one word.\"\"\"
            question: str = dspy.InputField()
            answer: str = dspy.OutputField()

        adapter = CompactAdapter()
        request = adapter.format(QA, demos=(), inputs={"question": "Capital of France?"})
        # request.messages[-1] == {"role": "user", "content": "question: Capital of France?"}
        adapter.parse(QA, '{"answer": "Paris"}')  # -> {"answer": "Paris"}
    """

    name = "compact"

    def __init__(self) -> None:
        # Both depend only on the node's prompt state, never on the item: build them once.
        self._prefix = lru_cache(maxsize=512)(self._build_prefix)
        self._schema = lru_cache(maxsize=512)(output_schema)

    def format(self, signature, demos: tuple[dict, ...], inputs: dict[str, Any]) -> LMRequest:
        prefix = self._prefix(signature, _freeze(demos))
        user = {"role": "user", "content": _field_lines(signature.input_fields, inputs)}
        return LMRequest(messages=[*prefix, user], response_schema=self._schema(signature), adapter=self.name)

    def parse(self, signature, text: str) -> dict[str, Any]:
        obj = _load_object(text)
        missing = [name for name in signature.output_fields if name not in obj]
        if missing:
            raise _unreadable(f"reply lacks output field(s) {missing}", text, field=missing[0],
                              expected=f"a JSON object with keys {list(signature.output_fields)}")
        return {name: obj[name] for name in signature.output_fields}

    def format_reply(self, signature, outputs: dict[str, Any]) -> str:
        present = {k: outputs[k] for k in signature.output_fields if k in outputs}
        return json.dumps(to_jsonable_python(present, fallback=str), ensure_ascii=False)

    def _build_prefix(self, signature, frozen_demos: str) -> tuple[dict[str, str], ...]:
        turns = [{"role": "system", "content": _system_text(signature)}]
        for demo in json.loads(frozen_demos):
            turns.append({"role": "user", "content": _field_lines(signature.input_fields, demo)})
            turns.append({"role": "assistant", "content": self.format_reply(signature, demo)})
        return tuple(turns)


def output_schema(signature) -> dict[str, Any]:
    """The JSON schema of the signature's outputs: every field required, no extra keys, no $refs."""
    fields = {name: (info.annotation, ...) for name, info in signature.output_fields.items()}
    model = pydantic.create_model(
        f"{signature.__name__}Output", __config__=pydantic.ConfigDict(extra="forbid"), **fields
    )
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    return _close_objects(_inline_refs(schema, defs, seen=()))


def _system_text(signature) -> str:
    keys = ", ".join(_describe(name, info) for name, info in signature.output_fields.items())
    return f"{signature.instructions.strip()}\nReply with a JSON object with keys: {keys}."


def _describe(name: str, info) -> str:
    # DSPy fills a placeholder desc "${name}" when the user gave none; that tells the model nothing.
    desc = (info.json_schema_extra or {}).get("desc", "")
    return f"{name} ({desc})" if desc and desc != f"${{{name}}}" else name


def _field_lines(fields: dict[str, Any], values: dict[str, Any]) -> str:
    return "\n".join(f"{name}: {_show(values[name])}" for name in fields if name in values)


def _show(value: Any) -> str:
    # Strings go in verbatim: quoting them would teach the model to quote its answers.
    if isinstance(value, str):
        return value
    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)


def _load_object(text: str) -> dict[str, Any]:
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        # strict=False: accept raw newlines inside strings, which small models and lax grammars emit.
        obj = json.loads(body, strict=False)
    except json.JSONDecodeError as exc:
        raise _unreadable(f"reply is not JSON ({exc.msg})", text) from None
    if not isinstance(obj, dict):
        raise _unreadable("reply is JSON but not an object", text)
    return obj


def _unreadable(what: str, text: str, *, field: str | None = None,
                expected: str = "one JSON object with the output fields") -> ReplyFormatError:
    # The raw text stays in the summary: it is the first line callers quote in a node's error.
    return ReplyFormatError(f"{what}; raw text: {text!r}", field=field, field_kind="output field",
                            expected=expected, found=f"{text[:300]!r}", raw=text,
                            fix="use an LM that follows JSON-schema constrained decoding, add demos, "
                            "or use another adapter (adapter='json' or 'chat')")


def _inline_refs(node: dict[str, Any], defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    """Replace ``{"$ref": "#/$defs/X"}`` with X's schema (llama.cpp resolves $refs unevenly)."""
    ref = node.get("$ref", "")
    if ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in seen:
            raise SettingError(f"recursive output type {name!r} cannot be inlined into a JSON schema",
                               expected="an output type without a reference to itself",
                               found=f"{name} contains {name}",
                               fix="give the output a finite nesting, or use adapter='json' or 'chat'")
        return _inline_refs(defs[name], defs, (*seen, name))
    return _map_subschemas(node, lambda sub: _inline_refs(sub, defs, seen))


def _close_objects(node: dict[str, Any]) -> dict[str, Any]:
    """Make every object schema closed and fully required, so the grammar forces every key."""
    out = _map_subschemas(node, _close_objects)
    if isinstance(out.get("properties"), dict):
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def _map_subschemas(node: dict[str, Any], fn) -> dict[str, Any]:
    # Walk only the keywords that hold schemas: a default or enum value is data, not a schema,
    # and a field may be called "properties".
    out = dict(node)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = fn(out[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [fn(sub) for sub in out[key]]
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: fn(sub) for name, sub in out["properties"].items()}
    return out


def _freeze(demos: tuple[dict, ...]) -> str:
    # A hashable, order-stable lru_cache key; model values become JSON the same way replies do.
    return json.dumps(to_jsonable_python(list(demos), fallback=str), sort_keys=True)

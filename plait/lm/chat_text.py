"""A fast path through DSPy's ChatAdapter for the common case: every value is a plain ``str``.

DSPy formats each input value by building a pydantic ``TypeAdapter`` for its type and dumping it
to JSON (for a ``str``, the string itself), and it re-reads ``signature.output_fields``, a
property that rebuilds a dict, for every section of every reply it parses. Per node execution
that costs about a third of plait's no-store run. For plain strings both reduce to string
joins and a line scan, done here with the signature's fields read once per signature; any other
value or annotation returns None and the caller uses DSPy's own code. The result is the same
text and the same fields, byte for byte (tests/unit/test_chat_text.py compares them on
adversarial strings).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# DSPy's chat_adapter.field_header_pattern.
_HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]")


@lru_cache(maxsize=512)
def _input_names(signature) -> tuple[str, ...]:
    return tuple(signature.input_fields)


@lru_cache(maxsize=512)
def _plain_outputs(signature) -> tuple[str, ...] | None:
    """The output field names when every one is a required ``str``, else None."""
    fields = signature.output_fields
    if all(info.annotation is str and info.is_required() for info in fields.values()):
        return tuple(fields)
    return None


def user_message(signature, inputs: dict[str, Any], requirements: str | None) -> str | None:
    """``ChatAdapter.format_user_message_content(signature, inputs, main_request=True)`` when every
    input value given is exactly a ``str``; ``requirements`` is the adapter's
    ``user_message_output_requirements(signature)``. None otherwise."""
    parts = [""]
    for name in _input_names(signature):
        if name in inputs:
            value = inputs[name]
            if type(value) is not str:
                return None
            parts.append(f"[[ ## {name} ## ]]\n{value}")
    if requirements is not None:
        parts.append(requirements)
    parts.append("")
    return "\n\n".join(parts).strip()


def parse_reply(signature, text: str) -> dict[str, str] | None:
    """``ChatAdapter.parse(signature, text)`` when every output field is a required ``str`` and the
    reply has all of them; None otherwise (the caller lets DSPy parse, or raise its error)."""
    names = _plain_outputs(signature)
    if names is None:
        return None
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if match:
            rest = line[match.end():].strip()  # DSPy slices the unstripped line: kept as it does
            sections.append((match.group(1), [rest] if rest else []))
        else:
            sections[-1][1].append(line)
    fields: dict[str, str] = {}
    for name, lines in sections:
        if name not in fields and name in names:
            fields[name] = "\n".join(lines).strip()
    if len(fields) != len(names):
        return None
    return {name: fields[name] for name in names}

"""JSON schemas bounded so that the llama.cpp grammar built from them ends.

A JSON-schema grammar with a free ``string`` lets a small model write ``"4,4,4,4,...`` until
max_tokens cuts it off, and the reply is no longer JSON. Here every string the schema leaves
unbounded gets a ``maxLength`` and every array a ``maxItems``, sized from the call's max_tokens, so
the grammar itself must close the string, the object and then the reply. The embedded model
(plait/lm/local.py) applies this to every schema it decodes with, whichever adapter made it.
"""

from __future__ import annotations

from typing import Any

# English text averages about 4 characters per token; 3 leaves room for punctuation and names, so a
# string that would have fitted in max_tokens still fits in its maxLength.
CHARS_PER_TOKEN = 3
# Tokens for the keys, quotes, colons and commas around one value.
TOKENS_PER_VALUE = 6
# A string always gets room for a short answer, however small max_tokens is.
MIN_CHARS = 16
# Items an array may hold when its schema sets no maxItems.
MAX_ITEMS = 8
# llama.cpp's number rules allow up to 16 digits per part; a number is at most this many tokens.
NUMBER_TOKENS = 24
# Keywords whose values are schemas (a default or an enum value is data, not a schema).
_ONE = ("items", "additionalProperties", "not")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")


def bounded_schema(schema: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """``schema`` with a maxItems on each open array and a maxLength on each open string.

    The strings share the token budget: ``max_tokens`` minus the structure, split evenly over the
    string slots (an array's item counts maxItems times), at CHARS_PER_TOKEN characters per token.
    """
    with_items = _walk(schema, _bound_array)
    budget = max_tokens - TOKENS_PER_VALUE * _count(with_items, _is_value)
    slots = _count(with_items, _is_open_string)
    chars = max(MIN_CHARS, CHARS_PER_TOKEN * budget // max(slots, 1))
    return _walk(with_items, lambda node: {**node, "maxLength": chars} if _is_open_string(node) else node)


def worst_case_tokens(schema: dict[str, Any]) -> int:
    """Tokens a reply under this bounded schema can take at most, for text of one byte per character
    (one token holds at least one byte): what max_tokens must allow so the grammar ends first."""
    def cost(node: dict[str, Any]) -> int:
        if node.get("type") == "string" and "maxLength" in node:
            return node["maxLength"] + TOKENS_PER_VALUE
        return NUMBER_TOKENS if node.get("type") in ("number", "integer") else TOKENS_PER_VALUE
    return sum(_visit(schema, cost))


def _bound_array(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("type") == "array" and "maxItems" not in node and "prefixItems" not in node:
        return {**node, "maxItems": max(MAX_ITEMS, node.get("minItems", 0))}
    return node


def _is_open_string(node: dict[str, Any]) -> bool:
    kinds = node.get("type")
    closed = any(key in node for key in ("maxLength", "enum", "const", "pattern", "format"))
    return (kinds == "string" or (isinstance(kinds, list) and "string" in kinds)) and not closed


def _is_value(node: dict[str, Any]) -> bool:
    return "type" in node or "enum" in node or "const" in node


def _count(schema: dict[str, Any], test) -> int:
    return sum(_visit(schema, lambda node: int(test(node))))


def _visit(node: dict[str, Any], fn, times: int = 1) -> list[int]:
    """``fn`` of every subschema, each scaled by how many times it can occur (maxItems of the arrays
    around it). Alternatives (anyOf...) are all counted, which overestimates: the safe side."""
    found = [times * fn(node)]
    for key, sub in _children(node):
        found += _visit(sub, fn, times * node.get("maxItems", 1) if key == "items" else times)
    return found


def _children(node: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    subs = [(key, node[key]) for key in _ONE if isinstance(node.get(key), dict)]
    subs += [(key, sub) for key in _MANY if isinstance(node.get(key), list) for sub in node[key]]
    for key in ("properties", "$defs"):
        if isinstance(node.get(key), dict):
            subs += [(key, sub) for sub in node[key].values() if isinstance(sub, dict)]
    return subs


def _walk(node: dict[str, Any], fn) -> dict[str, Any]:
    """``fn`` applied to every subschema, bottom up; a new schema, the input untouched."""
    out = dict(node)
    for key in _ONE:
        if isinstance(out.get(key), dict):
            out[key] = _walk(out[key], fn)
    for key in _MANY:
        if isinstance(out.get(key), list):
            out[key] = [_walk(sub, fn) if isinstance(sub, dict) else sub for sub in out[key]]
    for key in ("properties", "$defs"):
        if isinstance(out.get(key), dict):
            out[key] = {name: _walk(sub, fn) if isinstance(sub, dict) else sub for name, sub in out[key].items()}
    return fn(out)

"""How plait's keys and journal rows are laid out in a store's columns (SQLite schema 7,
PostgreSQL schema 3): the one place that converts between what plait passes around and what the
tables hold, so that the rest of plait keeps its hex strings and dicts.

- A hash or key (content_key, value_hash, replay_key, blobs.hash, input_hash) is stored as bytes:
  a sha256 hex digest as its 32 raw bytes (half the 64 characters of its text), followed by the
  UTF-8 of any suffix (a remembered failure's ``<key>:failed``). Any other text (keys written by
  hand, or in tests) is kept exactly: as its UTF-8 when shorter than 32 bytes (a digest is never
  that short), else behind 32 zero bytes (no digest is 32 zero bytes: one that is, is stored
  that way too, whole).
- A journal row's ``usage`` of the usual shape (``Usage.to_json()``: prompt and completion tokens,
  a cost or None) is stored as ``"p,c,cost"`` (about 5 bytes instead of 57), and as ``""`` when all
  three are nothing (no tokens reported, no cost); any other dict as its JSON, which is also how
  rows written before schema 7 keep it. None (no usage) stays NULL.
"""

from __future__ import annotations

import json
from typing import Any

DIGEST = 32
_ZERO = bytes(DIGEST)
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "cost")


def key_bytes(key: str | None) -> bytes | None:
    """What a hash or key is stored as (see the module docstring); None stays None."""
    if key is None:
        return None
    try:  # a digest's text is exactly the hex of its bytes (fromhex also takes capitals and spaces)
        head = bytes.fromhex(key[:64])
    except ValueError:
        head = b""
    if len(head) == DIGEST and head != _ZERO and head.hex() == key[:64]:
        return head + key[64:].encode()
    text = key.encode()
    return text if len(text) < DIGEST else _ZERO + text


def key_text(stored: Any) -> Any:
    """The hash or key a stored column holds: the inverse of :func:`key_bytes`. What is not bytes
    (None, text from before schema 7 or written by hand, another column's value) is returned as it is."""
    if not isinstance(stored, (bytes, memoryview)):
        return stored
    data = bytes(stored)
    if len(data) == DIGEST and data != _ZERO:  # a plain digest, by far the most common: its hex
        return data.hex()
    if len(data) < DIGEST:
        return data.decode()
    return ("" if data[:DIGEST] == _ZERO else data[:DIGEST].hex()) + data[DIGEST:].decode()


def usage_text(usage: dict[str, Any] | None) -> str | None:
    """A journal row's usage as stored: ``"p,c,cost"`` for the usual shape, else its JSON."""
    if not usage:
        return None  # as before: an empty dict is no usage
    prompt, completion, cost = (usage.get(k) for k in _USAGE_KEYS)
    usual = (usage.keys() == set(_USAGE_KEYS) and type(prompt) is type(completion) is int
             and (cost is None or type(cost) is float))
    if not usual:
        return json.dumps(usage)
    text = f"{prompt},{completion},{'' if cost is None else repr(cost)}"
    return "" if text == "0,0," else text


def usage_dict(text: str | None) -> dict[str, Any] | None:
    """The inverse of :func:`usage_text` (and the JSON that rows before schema 7 hold)."""
    if text is None:
        return None
    if text.startswith("{"):
        return json.loads(text)
    prompt, completion, cost = (text or "0,0,").split(",")
    return dict(zip(_USAGE_KEYS, (int(prompt), int(completion), float(cost) if cost else None)))


"""Canonical JSON and the one hash function behind fingerprints, value hashes and content keys;
and code versions: the hash of a function's source with what does not change its behaviour removed."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import textwrap
from typing import Any, Callable

from pydantic_core import to_jsonable_python

from plait.errors import TraceError


# One encoder for every key: json.dumps with options builds a new one per call (half the time of a
# small value's key). It holds no state between calls, so threads may share it.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=to_jsonable_python)


def _c_encoder() -> Callable[[Any], str] | None:
    """The C encoder that ``_CANONICAL.encode`` builds on every call, built once (a third of a small
    key's time), without the cycle check (plait hashes data, never a cycle: one would raise
    RecursionError, not ValueError). None where CPython's accelerator is missing or encodes differently."""
    make, quote = getattr(json.encoder, "c_make_encoder", None), json.encoder.encode_basestring
    encode = make and make(None, to_jsonable_python, quote, None, ":", ",", True, False, True)
    probe = {"b": [1, 2.5, float("nan"), None, True, "é\ud800"], "a": {"y": -0.0, "x": 10**20}}
    fast = (lambda obj: quote(obj) if isinstance(obj, str) else "".join(encode(obj, 0))) if encode else None
    return fast if fast and fast(probe) == _CANONICAL.encode(probe) else None


_ENCODE = _c_encoder() or _CANONICAL.encode


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace; pydantic models and dataclasses as data.
    NaN and the infinities are written as NaN / Infinity, so a NaN input gives the same key each time."""
    return _ENCODE(obj)


def sha256_hex(text: str | bytes) -> str:
    # surrogatepass: a lone surrogate (valid in a Python str, not in UTF-8) hashes too, and distinctly;
    # every other string hashes as its UTF-8, as before.
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``."""
    return sha256_hex(canonical_json(obj))


def code_version(func: Callable[..., Any]) -> str:
    """sha256 of the function's source with comments, docstrings, decorators and its name removed."""
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        raise TraceError(
            f"cannot read the source of step {func.__qualname__}",
            fix="define the step in a file, or give it an explicit version: @plait.step(version='1')",
        ) from None
    return source_version(source)


def source_version(source: str) -> str:
    """The version of a function's source text: its AST with the irrelevant parts removed."""
    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.decorator_list = []
            if node.body and _is_docstring(node.body[0]):
                node.body = node.body[1:] or [ast.Pass()]
    if tree.body and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        tree.body[0].name = "_"
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()[:16]


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)

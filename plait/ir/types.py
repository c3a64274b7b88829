"""Port types: a readable name, a JSON form that rebuilds the type, and assignability.

Types are Python annotations (``str``, ``int``, ``Literal[...]``, ``list[str]``, pydantic models).
A saved plan stores them as JSON trees, never pickles: builtins and typing constructs by name,
classes by ``module:qualname`` (imported on load, like the step functions themselves; a script's
classes by its path: ``plait.ir.locations``).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

from pydantic import TypeAdapter, ValidationError

from plait.ir.locations import import_qualified, qualified_name

_BUILTINS = {t.__name__: t for t in (str, int, float, bool, bytes, list, dict, tuple, set, type(None))}
_GENERIC_ORIGINS = {list: "list", dict: "dict", tuple: "tuple", set: "set"}


def type_name(t: Any) -> str:
    """A short, stable, readable name: ``str``, ``list[str]``, ``Literal['a', 'b']``."""
    if t is Any:
        return "Any"
    if t is type(None):
        return "None"
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        base = _GENERIC_ORIGINS.get(origin, getattr(origin, "__name__", str(origin)))
        return f"{base}[{', '.join(type_name(a) for a in args)}]"
    return getattr(t, "__name__", repr(t))


def type_to_json(t: Any) -> dict[str, Any]:
    """A JSON tree that :func:`type_from_json` turns back into ``t``."""
    if t is Any:
        return {"any": True}
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is Literal:
        return {"literal": list(args)}
    if origin in (Union, types.UnionType):
        return {"union": [type_to_json(a) for a in args]}
    if origin is not None:
        name = _GENERIC_ORIGINS.get(origin)
        if name is None:
            raise TypeError(f"cannot save the generic type {type_name(t)}; use list, dict, tuple or set")
        return {"generic": name, "args": [type_to_json(a) for a in args]}
    if isinstance(t, type) and _BUILTINS.get(t.__name__) is t:
        return {"builtin": t.__name__}
    if isinstance(t, type):
        return {"class": qualified_name(t)}
    raise TypeError(f"cannot save the type {t!r}")


def type_from_json(data: dict[str, Any]) -> Any:
    if "any" in data:
        return Any
    if "literal" in data:
        return Literal[tuple(data["literal"])]
    if "union" in data:
        return Union[tuple(type_from_json(a) for a in data["union"])]
    if "generic" in data:
        origin = {v: k for k, v in _GENERIC_ORIGINS.items()}[data["generic"]]
        args = tuple(type_from_json(a) for a in data["args"])
        return origin[args] if args else origin
    if "builtin" in data:
        return _BUILTINS[data["builtin"]]
    return import_qualified(data["class"])


def is_assignable(source: Any, target: Any) -> bool:
    """Can every value of type ``source`` be passed where ``target`` is declared?"""
    if source is target or source is Any or target is Any:
        return True
    s_origin, t_origin = typing.get_origin(source), typing.get_origin(target)
    if t_origin in (Union, types.UnionType):
        return any(is_assignable(source, t) for t in typing.get_args(target))
    if s_origin in (Union, types.UnionType):
        return all(is_assignable(s, target) for s in typing.get_args(source))
    if s_origin is Literal:
        return all(_accepts(target, v) for v in typing.get_args(source))
    if t_origin is Literal:
        return False
    if s_origin is not None or t_origin is not None:
        return _generic_assignable(source, target)
    if target is float and source is int:
        return True
    return isinstance(source, type) and isinstance(target, type) and issubclass(source, target)


def _generic_assignable(source: Any, target: Any) -> bool:
    s_origin = typing.get_origin(source) or source
    t_origin = typing.get_origin(target) or target
    if s_origin is not t_origin:
        return False
    s_args, t_args = typing.get_args(source), typing.get_args(target)
    if not s_args or not t_args:
        return True
    return len(s_args) == len(t_args) and all(is_assignable(s, t) for s, t in zip(s_args, t_args))


def _accepts(target: Any, value: Any) -> bool:
    try:
        TypeAdapter(target).validate_python(value, strict=True)
    except ValidationError:
        return False
    return True

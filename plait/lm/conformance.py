"""What plait checks of an LM before it sends it anything: the members of the :class:`LM`
protocol, with a message saying which one is wrong and how to write it (docs/custom-lm.md).

Checked once per run, when the run's LMs are resolved, so a custom LM missing ``acall`` fails
before any item rather than once per item.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from plait.errors import SettingError
from plait.ir.source import SourceLoc

_DOCS = "docs/custom-lm.md"


def check_lm(lm: Any) -> Any:
    """``lm`` itself, when it is an LM plait can call; else a SettingError naming the member."""
    if not isinstance(getattr(lm, "name", None), str):
        raise _wrong(lm, "name", "a str naming the LM", getattr(lm, "name", "no attribute 'name'"))
    concurrency = getattr(lm, "max_concurrency", None)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise _wrong(lm, "max_concurrency", "an int >= 1: calls in flight at once", concurrency)
    if not inspect.iscoroutinefunction(getattr(lm, "acall", None)):
        raise _wrong(lm, "acall", "`async def acall(self, request) -> LMResponse`", _described(lm, "acall"))
    _check_identity(lm)
    return lm


def _check_identity(lm: Any) -> None:
    identity = lm.identity() if callable(getattr(lm, "identity", None)) else None
    if not isinstance(identity, dict):
        raise _wrong(lm, "identity", "a method returning a dict (model name, settings, version)",
                     _described(lm, "identity") if identity is None else type(identity).__name__)
    try:
        json.dumps(identity, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _wrong(lm, "identity", "a JSON dict (it enters every content key)", f"{identity!r} ({exc})") from None


def _described(lm: Any, member: str) -> str:
    value = getattr(lm, member, None)
    if value is None:
        return f"no attribute '{member}'"
    return f"a plain function {member}()" if callable(value) else f"{type(value).__name__} {value!r}"


def _defined_at(lm: Any, member: str) -> SourceLoc | None:
    """Where the member (or, for an attribute, the LM's class) is written: the run starts far from
    the user's code (in the executor's loop), so the stack does not say."""
    classes = [c for c in type(lm).__mro__ if c.__module__ not in ("builtins", __name__, "plait.lm.protocol")]
    for code_of in (getattr(type(lm), member, None), *classes):
        try:
            lines, line = inspect.getsourcelines(code_of)
            return SourceLoc(inspect.getsourcefile(code_of) or "?", line)
        except (TypeError, OSError):
            continue
    return None


def _wrong(lm: Any, member: str, expected: str, found: Any) -> SettingError:
    return SettingError(f"LM {type(lm).__name__} cannot be called by plait: its '{member}' is not what plait needs",
                        field=member, field_kind="member", source=_defined_at(lm, member), expected=expected, found=str(found),
                        fix=f"subclass plait.LMBase and define {member} as {_DOCS} shows")

"""Which LM a run uses: ``plait.configure`` for the process default, ``plait.context`` to override.

Resolution for a PREDICT node: the module's own ``lm=`` (an object, or a name registered with
``lms={...}``), else the ``lm=`` given to the run, else the innermost ``plait.context``, else
``plait.configure``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping


@dataclass(frozen=True)
class Settings:
    lm: Any = None
    lms: Mapping[str, Any] = field(default_factory=dict)
    adapter: str | None = None
    progress: bool | None = None  # None: bars when interactive (or as $PLAIT_PROGRESS says)
    strict: bool = False  # validate input items in pydantic's strict mode (RunOptions.strict)
    checks: bool | None = None  # None: as $PLAIT_CHECKS says; on: the verifier runs after every pass


_default = Settings()
_override: ContextVar[Settings | None] = ContextVar("plait_settings", default=None)


def configure(*, lm: Any = None, lms: Mapping[str, Any] | None = None, adapter: str | None = None,
              progress: bool | None = None, strict: bool | None = None, checks: bool | None = None) -> None:
    """Set the process-wide defaults. ``progress=False`` hides every progress bar (quiet mode);
    ``strict=True`` validates input items in pydantic's strict mode ("7" is refused for an int);
    ``checks=True`` runs the plan verifier after every compile pass (as ``PLAIT_CHECKS=1`` does).

    Example::

        plait.configure(lm=plait.LocalLM())
        plait.configure(progress=False)
        plait.configure(strict=True)
        plait.configure(checks=True)
        plait.configure(lm=plait.DSPyLM("openai/gpt-4o-mini"), lms={"judge": plait.DSPyLM("openai/gpt-4o")})
    """
    global _default
    _default = _merge(_default, lm, lms, adapter, progress, strict, checks)


@contextmanager
def context(*, lm: Any = None, lms: Mapping[str, Any] | None = None, adapter: str | None = None,
            progress: bool | None = None, strict: bool | None = None,
            checks: bool | None = None) -> Iterator[Settings]:
    """Override the defaults inside a ``with`` block (per task and thread; safe with asyncio)."""
    token = _override.set(_merge(current(), lm, lms, adapter, progress, strict, checks))
    try:
        yield current()
    finally:
        _override.reset(token)


def current() -> Settings:
    return _override.get() or _default


def checks_on() -> bool:
    """Are checks on? ``configure(checks=...)``/``context(checks=...)``, else ``$PLAIT_CHECKS`` (tests set it)."""
    checks = current().checks
    return checks if checks is not None else os.environ.get("PLAIT_CHECKS", "0") not in ("", "0")


def _merge(base: Settings, lm: Any, lms: Mapping[str, Any] | None, adapter: str | None,
           progress: bool | None = None, strict: bool | None = None, checks: bool | None = None) -> Settings:
    merged = dict(base.lms)
    merged.update(lms or {})
    return replace(base, lm=lm if lm is not None else base.lm, lms=merged,
                   adapter=adapter if adapter is not None else base.adapter,
                   progress=progress if progress is not None else base.progress,
                   strict=strict if strict is not None else base.strict,
                   checks=checks if checks is not None else base.checks)

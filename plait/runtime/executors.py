"""Where a run's items run: ``executor=`` of ``run``, ``resume`` and ``rerun``.

``None`` or ``"local"``: in this process (the default). ``"ray"``: on a Ray cluster, a
:class:`plait.RayExecutor` made for that one run (its workers end with the run). A
``plait.RayExecutor(...)`` object: on its cluster, its workers kept between runs (an optimizer's
evaluations reuse them, and the embedded model they loaded).
"""

from __future__ import annotations

from typing import Any

from plait.runtime.options import RunOptions
from plait.errors import PlaitError
from plait.runtime.ray_executor import RayExecutor

NAMES = ("local", "ray")


def resolve_executor(value: Any, *, keep_workers: bool = False) -> Any:
    """None for this process, else an executor object (one with ``bind``)."""
    if value is None or value == "local":
        return None
    if value == "ray":
        return RayExecutor(keep_workers=keep_workers)
    if hasattr(value, "bind"):
        return value
    raise PlaitError(f"unknown executor {value!r}", field="executor", expected="'local', 'ray' or plait.RayExecutor(...)",
                     found=repr(value)[:100], fix="pass executor='ray' (or a plait.RayExecutor) to run on Ray, "
                                                  "or leave executor= out to run in this process")


def run_options(**options: Any) -> RunOptions:
    """RunOptions from the keywords of ``run``, ``resume`` or ``rerun``, ``executor`` resolved."""
    if "executor" in options:
        options["executor"] = resolve_executor(options["executor"])
    return RunOptions(**options)

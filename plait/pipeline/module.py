"""Module: the unit users compose. ``forward`` wires sub-modules and steps together."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from plait.pipeline.tracing import current_tracer


class Module:
    """Base class of user pipelines, like ``dspy.Module``.

    Sub-modules are found by walking attributes (and lists, tuples and dicts of modules), so every
    node gets a stable id from its attribute path: ``pipeline.summarize``. ``__init__`` needs no
    ``super().__init__()`` call.

    Example::

        class Pipeline(plait.Module):
            def __init__(self):
                self.summarize = plait.Predict("document -> summary")
            def forward(self, document: str):
                return self.summarize(document=document)
    """

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = current_tracer()
        if tracer is None:
            return self.forward(*args, **kwargs)
        with tracer.scope_of(self):
            return self.forward(*args, **kwargs)

    def named_modules(self, prefix: str | None = None) -> Iterator[tuple[str, Module]]:
        """(path, module) for this module and every sub-module, depth first, each once."""
        seen: set[int] = set()
        yield from _walk(self, prefix or default_name(self), seen)


def default_name(module: Any) -> str:
    """``Pipeline`` -> ``pipeline``, ``MultiHop`` -> ``multi_hop``, ``PeopleQA`` -> ``people_qa``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", type(module).__name__).lower()


def _walk(obj: Any, path: str, seen: set[int]) -> Iterator[tuple[str, Module]]:
    if isinstance(obj, Module):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        yield path, obj
        children = vars(obj).items()
    elif isinstance(obj, (list, tuple)):
        children = ((str(i), v) for i, v in enumerate(obj))
    elif isinstance(obj, dict):
        children = ((str(k), v) for k, v in obj.items())
    else:
        return
    for name, child in children:
        if not name.startswith("_") and isinstance(child, (Module, list, tuple, dict)):
            yield from _walk(child, f"{path}.{name}", seen)

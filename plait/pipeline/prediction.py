"""Prediction: a node's or a pipeline's typed outputs, read by attribute or by key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator


class Prediction(Mapping[str, Any]):
    """Example::

        pred = compiled(question="2 + 2?")
        pred.answer, pred["answer"], dict(pred)
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"the prediction has no field '{name}'; its fields: {', '.join(self._fields)}") from None

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Prediction is read-only")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"Prediction({inner})"

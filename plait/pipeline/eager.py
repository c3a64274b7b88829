"""Eager calls: a Predict called outside a compiled pipeline runs as a one-node plan, no store."""

from __future__ import annotations

from typing import Any


def call_eagerly(predict: Any, inputs: dict[str, Any]) -> Any:
    from plait.compiler import compile

    return compile(predict)(**inputs)

"""Signatures are DSPy's: re-exported, plus resolving strings and adding a reasoning field."""

from __future__ import annotations

from typing import Any

import dspy

from plait.errors import TraceError

Signature = dspy.Signature
InputField = dspy.InputField
OutputField = dspy.OutputField

REASONING_FIELD = "reasoning"


def resolve_signature(signature: Any) -> type[dspy.Signature]:
    """A Signature class from a class or a string such as ``"question -> answer: int"``."""
    if isinstance(signature, type) and issubclass(signature, dspy.Signature):
        return signature
    if isinstance(signature, str):
        try:
            return dspy.ensure_signature(signature)
        except Exception as exc:  # dspy raises several types for malformed strings
            raise TraceError(
                f"cannot parse the signature string {signature!r}",
                found=f"{type(exc).__name__}: {exc}",
                fix="write it as 'input1, input2 -> output1: type, output2', e.g. 'question -> answer: int'",
            ) from None
    raise TraceError(
        f"expected a Signature class or a signature string, got {type(signature).__name__}",
        fix="pass a subclass of plait.Signature or a string like 'question -> answer'",
    )


def with_reasoning(signature: type[dspy.Signature]) -> type[dspy.Signature]:
    """The signature with a leading ``reasoning: str`` output, as DSPy's ChainOfThought adds."""
    if REASONING_FIELD in signature.output_fields:
        return signature
    field = dspy.OutputField(desc="${reasoning}")
    extended = signature.prepend(REASONING_FIELD, field, type_=str)
    extended.__name__ = signature.__name__  # keep the user's name in plans and errors
    return extended

"""DSPy signatures as JSON, field by field with their types (see ``types.py``): how PREDICT and
HUMAN params are saved, keyed and diffed."""

from __future__ import annotations

from typing import Any

import dspy

from plait.ir.types import type_from_json, type_to_json


def signature_to_json(signature: type[dspy.Signature]) -> dict[str, Any]:
    def fields(items: dict) -> list[dict[str, Any]]:
        return [
            {"name": n, "type": type_to_json(f.annotation), **_extra(f.json_schema_extra or {})}
            for n, f in items.items()
        ]

    return {
        "name": signature.__name__,
        "instructions": signature.instructions,
        "inputs": fields(signature.input_fields),
        "outputs": fields(signature.output_fields),
    }


def _extra(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: extra[k] for k in ("desc",) if k in extra}  # DSPy 3 ignores prefix


def signature_from_json(data: dict[str, Any]) -> type[dspy.Signature]:
    fields: dict[str, Any] = {}
    for spec in data["inputs"]:
        fields[spec["name"]] = (type_from_json(spec["type"]), dspy.InputField(**_extra(spec)))
    for spec in data["outputs"]:
        fields[spec["name"]] = (type_from_json(spec["type"]), dspy.OutputField(**_extra(spec)))
    return dspy.make_signature(fields, data["instructions"], signature_name=data["name"])


def signature_call(op: str, sig: Any) -> str:
    """How a node built on a signature prints: ``op Name``, or ``op[a, b -> c]`` for a string one."""
    if sig.__name__ == "StringSignature":  # DSPy's name for signatures made from strings
        return f"{op}[{', '.join(sig.input_fields)} -> {', '.join(sig.output_fields)}]"
    return f"{op} {sig.__name__}"


def signature_key(signature: type[dspy.Signature]) -> dict[str, Any]:
    """The signature as it reaches the prompt: the class name never does."""
    data = signature_to_json(signature)
    data.pop("name")
    return data
